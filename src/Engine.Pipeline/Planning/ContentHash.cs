using System.Security.Cryptography;
using System.Text;
using Engine.Core;

namespace Engine.Pipeline.Planning;

/// <summary>SHA-256 hashes (lower-case hex) of files, of model directories and of step keys.</summary>
public static class ContentHash
{
    /// <summary>The hash of a file's bytes; a missing or unreadable file is an <see cref="EngineException"/> naming it.</summary>
    public static string OfFile(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EngineException($"{path}: cannot read: {e.Message}", e);
        }
    }

    /// <summary>The hash of a directory: every file under it (relative path and content), in ordinal path order.</summary>
    public static string OfDirectory(string path)
    {
        if (!Directory.Exists(path)) throw new EngineException($"{path}: no such model directory");
        var lines = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(path, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .Select(rel => $"{rel}\t{OfFile(Path.Combine(path, rel))}");
        return OfText(string.Join("\n", lines));
    }

    /// <summary>The hash of a text's UTF-8 bytes.</summary>
    public static string OfText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>The key of a step: the hash of its kind, its settings and its inputs' hashes, one per line.</summary>
    public static string OfParts(params IEnumerable<string> parts) => OfText(string.Join("\n", parts));
}
