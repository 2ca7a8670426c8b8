namespace LoRAQueue.Formats;

/// <summary>A PEFT adapter that is malformed, unsupported, or made for another base model.</summary>
public class AdapterFormatException : FormatException
{
    public AdapterFormatException(string message) : base(message) { }

    public AdapterFormatException(string message, Exception inner) : base(message, inner) { }
}
