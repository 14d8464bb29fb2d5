using System.Text.Json;
using Engine.Training.Data;
using Engine.Training.Data.Formats;

namespace Engine.Training.Tests;

/// <summary>Each text format read into a <see cref="Conversation"/>, and the problems each rejects.</summary>
public sealed class RowFormatTests
{
    private static Conversation Read(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return RowFormats.ReadConversation(doc.RootElement, RowFormats.Detect(doc.RootElement));
    }

    private static void AssertSame(Conversation expected, Conversation actual)
    {
        Assert.Equal(expected.System, actual.System);
        Assert.Equal(expected.Turns, actual.Turns);
    }

    [Fact]
    public void EveryFormatReadsIntoTheSameConversation()
    {
        var expected = new Conversation("Be brief.", [
            new ChatTurn(ChatRole.User, "Hi"), new ChatTurn(ChatRole.Assistant, "Hello."),
            new ChatTurn(ChatRole.User, "Add 2 and 3\n2 3"), new ChatTurn(ChatRole.Assistant, "5"),
        ]);

        AssertSame(expected, Read("""{"instruction": "Add 2 and 3", "input": "2 3", "output": "5", "system": "Be brief.", "history": [["Hi", "Hello."]]}"""));
        AssertSame(expected, Read("""
            {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."},
             {"from": "user", "value": "Add 2 and 3\n2 3"}, {"from": "assistant", "value": "5"}]}
            """));
        AssertSame(expected, Read("""
            {"system": "Be brief.", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."},
             {"from": "human", "value": "Add 2 and 3\n2 3"}, {"from": "gpt", "value": "5"}]}
            """));
        AssertSame(expected, Read("""
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
             {"role": "user", "content": "Add 2 and 3\n2 3"}, {"role": "assistant", "content": "5"}]}
            """));
    }

    [Fact]
    public void AlpacaWithoutInputOrSystemIsOneExchange()
    {
        var c = Read("""{"instruction": "Say hi", "input": "", "output": "hi"}""");
        Assert.Null(c.System);
        Assert.Equal([new ChatTurn(ChatRole.User, "Say hi"), new ChatTurn(ChatRole.Assistant, "hi")], c.Turns);
    }

    [Theory]
    [InlineData("""[1, 2]""", "a row must be a JSON object")]
    [InlineData("""{"text": "hi"}""", "unknown row format")]
    [InlineData("""{"messages": [], "instruction": "x"}""", "ambiguous row: it has 'messages' and 'instruction'")]
    [InlineData("""{"instruction": "x"}""", "'output' is missing")]
    [InlineData("""{"instruction": 3, "output": "y"}""", "'instruction' must be a string, found a number")]
    [InlineData("""{"instruction": "x", "output": ""}""", "turn 1 (assistant) is empty")]
    [InlineData("""{"instruction": "x", "output": "y", "history": [["a"]]}""", "'history'[0] must be a pair of strings")]
    [InlineData("""{"conversations": [{"from": "human", "value": "x"}, {"from": "function_call", "value": "{}"}]}""", "conversations[1].from 'function_call' is not supported (system, human, user, gpt, assistant)")]
    [InlineData("""{"conversations": [{"from": "human", "value": "x"}, {"from": "system", "value": "s"}]}""", "from 'system' is allowed only as the first entry")]
    [InlineData("""{"conversations": [{"from": "gpt", "value": "x"}]}""", "turn 0 is assistant, expected user")]
    [InlineData("""{"conversations": "x"}""", "'conversations' must be an array, found a string")]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}]}""", "ends with a user turn")]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]}""", "messages[1].role 'tool' is not supported (system, user, assistant)")]
    [InlineData("""{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}""", "messages[0].'content' must be a string, found an array")]
    [InlineData("""{"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]}""", "turn 1 is user, expected assistant")]
    [InlineData("""{"messages": []}""", "the conversation has no turns")]
    [InlineData("""{"instruction": "a\ud800b", "output": "y"}""", "'instruction' is not valid Unicode text")]
    [InlineData("""{"instruction": "x", "output": "y", "history": [["a", "\udc00"]]}""", "'history'[0][1] is not valid Unicode text")]
    public void BadRowsSayWhatIsWrong(string json, string expected)
    {
        var e = Assert.Throws<FormatException>(() => Read(json));
        Assert.Contains(expected, e.Message);
    }
}
