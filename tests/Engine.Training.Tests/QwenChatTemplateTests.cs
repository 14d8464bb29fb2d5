using Engine.Training.Data;
using Engine.Training.Templates;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

public sealed class QwenChatTemplateTests
{
    private const int Ignore = PackedBatch.IgnoreIndex;
    private const int ImStart = 257, ImEnd = 258, NL = 10;

    private static int[] Bytes(string s) => System.Text.Encoding.UTF8.GetBytes(s).Select(b => (int)b).ToArray();

    private static Conversation Exchange(string? system, params string[] turns) =>
        new(system, turns.Select((t, i) => new ChatTurn(i % 2 == 0 ? ChatRole.User : ChatRole.Assistant, t)).ToList());

    [Fact]
    public void OneExchangeGivesTheHandCheckedIdsAndLabels()
    {
        var template = new QwenChatTemplate(new ByteTokenizer(), QwenChatTemplate.DefaultSystemPrompt);

        var example = template.Apply(Exchange("S", "hi", "ok"), line: 7);

        int[] prompt = [ImStart, .. Bytes("system\nS"), ImEnd, NL, ImStart, .. Bytes("user\nhi"), ImEnd, NL, ImStart, .. Bytes("assistant\n")];
        int[] reply = [.. Bytes("ok"), ImEnd, NL];
        Assert.Equal([.. prompt, .. reply], example.InputIds);
        Assert.Equal([.. Enumerable.Repeat(Ignore, prompt.Length), .. reply], example.Labels);
        Assert.Equal(7, example.Line);
    }

    [Fact]
    public void EveryAssistantTurnIsLabelledAndNothingElse()
    {
        var tokenizer = new ByteTokenizer();
        var template = new QwenChatTemplate(tokenizer, "");

        var example = template.Apply(Exchange(null, "a", "b", "c", "d"), line: 1);

        Assert.Equal(example.InputIds.Length, example.Labels.Length);
        string text = tokenizer.Decode(example.InputIds);
        Assert.Equal("<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\nd<|im_end|>\n", text);
        string labelled = tokenizer.Decode(example.Labels.Where(l => l != Ignore));
        Assert.Equal("b<|im_end|>\nd<|im_end|>\n", labelled);
        for (int i = 0; i < example.Labels.Length; i++)
            Assert.True(example.Labels[i] == Ignore || example.Labels[i] == example.InputIds[i], $"label {i} is {example.Labels[i]}, input id {example.InputIds[i]}");
    }

    [Theory]
    [InlineData(null, null, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user")]
    [InlineData(null, "Be terse.", "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user")]
    [InlineData(null, "", "<|im_start|>user")]
    [InlineData("Row system.", "Be terse.", "<|im_start|>system\nRow system.<|im_end|>\n<|im_start|>user")]
    public void SystemPromptComesFromTheRowThenTheOverrideThenTheDefault(string? rowSystem, string? overrideSystem, string expectedStart)
    {
        var tokenizer = new ByteTokenizer();
        var template = ChatTemplates.Create(ChatTemplateName.Qwen, tokenizer, overrideSystem);

        var example = template.Apply(Exchange(rowSystem, "q", "a"), line: 1);

        Assert.StartsWith(expectedStart, tokenizer.Decode(example.InputIds));
    }

    [Fact]
    public void WithTheFixtureTokenizerIdsEqualTheWholeRenderedText()
    {
        // Pieces are tokenized apart; where they meet the pre-tokenizer splits anyway (next to a special token, or
        // between "\n" and a reply starting with a letter), so the ids equal those of the whole rendered text.
        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        var template = new QwenChatTemplate(tokenizer, "You are a helpful assistant.");

        var example = template.Apply(Exchange(null, "What is the capital of France?", "The capital of France is Paris."), line: 1);

        Assert.Equal(tokenizer.Encode("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
            + "<|im_start|>assistant\nThe capital of France is Paris.<|im_end|>\n"), example.InputIds);
        Assert.Equal(tokenizer.Encode("The capital of France is Paris.<|im_end|>\n"), example.Labels.Where(l => l != Ignore));
    }

    [Fact]
    public void UnknownTemplateListsTheSupportedOnes()
    {
        var e = Assert.Throws<Core.EngineException>(() => ChatTemplates.Parse("llama3"));
        Assert.Equal("unknown chat template 'llama3' (supported: qwen)", e.Message);
        Assert.Equal(ChatTemplateName.Qwen, ChatTemplates.Parse("QWEN"));
    }
}
