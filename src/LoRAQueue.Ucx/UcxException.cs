namespace LoRAQueue.Ucx;

/// <summary>A UCX call that failed, with UCX's status code and its text.</summary>
public sealed class UcxException(string message, int status) : Exception(message)
{
    public int Status { get; } = status;
}
