namespace LoRAQueue.Formats;

/// <summary>
/// A few KB of plain English that the synthetic tokenizer learns its merges from, so that generated
/// models tokenize ordinary prompts into word-sized pieces instead of single bytes.
/// </summary>
public static class TrainingCorpus
{
    public const string English = """
        A large language model is a neural network that reads a sequence of tokens and predicts the next one.
        The model turns each token into a vector, passes the vectors through many layers of attention and
        feed forward blocks, and at the end it gives a score to every word in its vocabulary. To write a
        sentence, the server picks a token, adds it to the sequence, and runs the model again. This is
        called decoding, and it is the part of the work that takes the most time when people talk to a model.

        Serving a model to many users at the same time is a different problem from training it. During
        training the whole batch is known in advance and every step has the same shape. In a serving system
        the requests arrive at random times, each one has its own prompt and its own length, and each user
        wants the first word as soon as possible. A good server keeps the hardware busy without making any
        single request wait too long. The time to the first token and the time per output token are the two
        numbers that most users notice, and they are often written into a service level objective.

        Continuous batching is the idea that the server does not wait for a whole batch to finish. After
        every step it removes the sequences that are done and adds new ones from the queue. The prompt of a
        new request is processed in one large step called prefill, and then the request joins the others in
        the decode phase, where each step produces one new token for every sequence in the batch. Because a
        decode step reads all of the model weights from memory but does very little arithmetic for each
        weight, its speed is limited by memory bandwidth. Batching many sequences together lets the server
        read the weights once and use them for all of the sequences, which is why a larger batch gives more
        tokens per second until the arithmetic itself becomes the limit.

        The attention layers need the keys and values of every earlier token. The server stores them in a
        cache so that it does not have to compute them again. A paged cache splits this memory into small
        blocks, like the pages of an operating system, so that sequences of very different lengths can
        share the same pool of memory without waste. When the pool is full, new requests wait in the queue
        until a running request finishes and gives its blocks back.

        Low rank adaptation, or LoRA, is a way to fine tune a large model by training two small matrices for
        each layer instead of the whole weight matrix. The first matrix projects the input down to a small
        rank, and the second one projects it back up to the output size. The product of the two is added to
        the output of the frozen base layer. An adapter of rank eight may hold less than one percent of the
        parameters of the model, so a single server can keep hundreds or thousands of adapters in memory and
        share one copy of the base model between all of them. Each request names the adapter it wants, and
        requests for different adapters can still run in the same batch.

        The cost of an adapter grows with its rank. A kernel that pads every adapter in a batch to the largest
        rank makes a request with a small adapter pay for the largest one, and a kernel whose time is set by
        its slowest segment has the same problem. When ranks of eight, sixteen, thirty two, sixty four and one
        hundred twenty eight are mixed together, this skew can make a service miss its targets and buy more
        machines than it needs. One answer is to place adapters on workers by rank, so that each worker
        serves a narrow band of ranks while every worker carries about the same load, and to route each
        request to a worker that serves the band of its adapter.

        Popularity is not fixed. A few adapters receive most of the traffic, and the popular ones change over
        the day. The scheduler watches the demand for each adapter, the depth of each queue and the time of
        each step, and from time to time it moves adapters between workers to keep the load even. Moving an
        adapter is cheap when another machine already holds it in memory, because the weights can be copied
        over the network instead of being read again from storage. The system should never lose a request:
        every job is acknowledged only after its result has been stored, and a job that fails is recorded
        with the reason so that a person can see what went wrong and try it again.

        Good tools make this work easier to test. A small random model with the same shape as a real one
        lets engineers check the code paths, measure the speed of each kernel and compare the results of two
        implementations without downloading large files. The numbers it produces are not meaningful text,
        but the time it takes to produce them is real, and so is the memory it uses. With a fixed seed the
        same model is created every time, which makes the tests repeatable on every machine.
        """;
}
