using System.Text.Encodings.Web;
using System.Text.Json;

namespace Engine.Training.Synthetic;

/// <summary>Writes exchanges as JSONL rows in the OpenAI messages format that <see cref="Data.SftDataset"/> reads:
/// <c>{"messages":[{"role":"system","content":"Be brief."},{"role":"user",...},{"role":"assistant",...}]}</c>. Each row
/// carries its own short system prompt, which wins over any default: the template's (Qwen's, 68 bytes) would be most
/// of every row's tokens with a byte-level tokenizer, and an empty one reads as "use the default".
/// The file appears whole (written beside, then renamed), so a killed run never leaves half a split.</summary>
internal static class ChatJsonl
{
    // Relaxed escaping keeps '+', '<' and quotes' neighbours readable in the files; the JSON is the same.
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public const string SystemPrompt = "Be brief.";

    public static void Write(string path, IEnumerable<SyntheticExample> examples)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string staging = path + ".partial";
        using (var stream = File.Create(staging))
        {
            foreach (var e in examples)
            {
                using (var json = new Utf8JsonWriter(stream, Options))
                {
                    json.WriteStartObject();
                    json.WriteStartArray("messages");
                    Message(json, "system", SystemPrompt);
                    Message(json, "user", e.Prompt);
                    Message(json, "assistant", e.Reply);
                    json.WriteEndArray();
                    json.WriteEndObject();
                }
                stream.WriteByte((byte)'\n');
            }
        }
        File.Move(staging, path, overwrite: true);
    }

    private static void Message(Utf8JsonWriter json, string role, string content)
    {
        json.WriteStartObject();
        json.WriteString("role", role);
        json.WriteString("content", content);
        json.WriteEndObject();
    }
}
