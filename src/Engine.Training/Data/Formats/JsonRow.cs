using System.Text.Json;

namespace Engine.Training.Data.Formats;

/// <summary>Typed reads of a row's fields; each failure is a <see cref="FormatException"/> naming the field.</summary>
internal static class JsonRow
{
    public static string RequireString(JsonElement obj, string key, string where = "")
    {
        if (!obj.TryGetProperty(key, out var v)) throw new FormatException($"{where}'{key}' is missing");
        return v.ValueKind == JsonValueKind.String ? Text(v, $"{where}'{key}'") : throw new FormatException($"{where}'{key}' must be a string, found {Kind(v)}");
    }

    /// <summary>The string at <paramref name="key"/>, or null when it is absent or JSON null.</summary>
    public static string? OptionalString(JsonElement obj, string key, string where = "")
    {
        if (!obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? Text(v, $"{where}'{key}'") : throw new FormatException($"{where}'{key}' must be a string, found {Kind(v)}");
    }

    /// <summary>The value of a JSON string. One whose <c>\u</c> escapes leave a surrogate unpaired is no Unicode text:
    /// System.Text.Json refuses to decode it, and so does the row.</summary>
    public static string Text(JsonElement s, string name)
    {
        try
        {
            return s.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new FormatException($"{name} is not valid Unicode text (an unpaired surrogate escape such as \\ud800)", e);
        }
    }

    public static JsonElement RequireArray(JsonElement obj, string key)
    {
        if (!obj.TryGetProperty(key, out var v)) throw new FormatException($"'{key}' is missing");
        return v.ValueKind == JsonValueKind.Array ? v : throw new FormatException($"'{key}' must be an array, found {Kind(v)}");
    }

    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
