using System.Text;
using System.Text.Json.Nodes;
using Engine.Core.Text;
using Engine.Testing;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary>Training's text inputs (JSONL rows, tokenizer.json) are strict UTF-8: a bad byte stops the load with
/// the file, line and byte offset instead of training on replacement characters.</summary>
public sealed class StrictTextInputTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Model(bool tokenizer)
    {
        string dir = _temp.Combine("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), new JsonObject { ["model_type"] = "qwen2", ["vocab_size"] = 1024 }.ToJsonString());
        if (tokenizer) File.Copy(TokenizerFixture.TokenizerJson, Path.Combine(dir, ModelTokenizer.FileName));
        return dir;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AJsonlRowWithInvalidUtf8NamesLineAndByte(bool skipBadRows)
    {
        string good = """{"instruction": "x", "output": "y"}""" + "\n";
        var bad = Encoding.UTF8.GetBytes("""{"instruction": "caf""").Concat(new byte[] { 0xE9 }).Concat(Encoding.UTF8.GetBytes("\", \"output\": \"y\"}\n")).ToArray();
        string data = _temp.Combine("data.jsonl");
        File.WriteAllBytes(data, [.. Encoding.UTF8.GetBytes(good), .. bad, .. Encoding.UTF8.GetBytes(good)]);

        var e = Assert.Throws<InvalidTextException>(() => SftDataset.Load(data, Model(tokenizer: false), new DatasetOptions(SkipBadRows: skipBadRows)));
        Assert.Equal(2, e.Line);
        Assert.Equal(good.Length + 20, e.ByteOffset);
        Assert.Contains($"{data}: line 2, byte offset {good.Length + 20}", e.Message);
    }

    [Fact]
    public void TokenizerJsonWithInvalidUtf8IsRefused()
    {
        string model = Model(tokenizer: true);
        string path = Path.Combine(model, ModelTokenizer.FileName);
        var bytes = File.ReadAllBytes(path);
        int at = Array.IndexOf(bytes, (byte)'"', 10);
        bytes[at + 1] = 0xC0;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidTextException>(() => ModelTokenizer.Load(model, 1024));
        Assert.Equal(at + 1, e.ByteOffset);
    }
}
