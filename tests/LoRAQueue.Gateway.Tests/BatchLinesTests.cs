using System.Text;
using LoRAQueue.Gateway.Batches;

namespace LoRAQueue.Gateway.Tests;

public sealed class BatchLinesTests
{
    [Theory]
    [InlineData("a\nb\n", new[] { 1, 2 })]
    [InlineData("a\r\n\r\nb", new[] { 1, 3 })]
    [InlineData("\n  \na\n\t\n", new[] { 3 })]
    [InlineData("", new int[0])]
    public void Lines_are_numbered_as_a_text_editor_numbers_them(string body, int[] numbers)
    {
        var lines = BatchLines.Split(Encoding.UTF8.GetBytes(body));
        Assert.Equal(numbers, lines.Select(l => l.Number));
        Assert.All(lines, l => Assert.DoesNotContain((byte)'\r', l.Json.ToArray()));
    }
}
