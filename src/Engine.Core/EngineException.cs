namespace Engine.Core;

/// <summary>Base of every error the engine reports to a user: the message is one line naming the file,
/// tensor and values involved, fit to print as it is.</summary>
public class EngineException : Exception
{
    /// <summary>An error with a one-line <paramref name="message"/> fit for a user.</summary>
    public EngineException(string message) : base(message) { }
    /// <summary>An error with a one-line <paramref name="message"/>, caused by <paramref name="inner"/>.</summary>
    public EngineException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A safetensors file breaks the format: bad header length, JSON, dtype, shape or offsets.</summary>
public sealed class SafetensorsFormatException : EngineException
{
    /// <summary>The file at <paramref name="path"/> breaks the format as <paramref name="problem"/> says.</summary>
    public SafetensorsFormatException(string path, string problem)
        : base($"{path}: invalid safetensors file: {problem}") => FilePath = path;

    /// <summary>The offending file.</summary>
    public string FilePath { get; }
}

/// <summary>A model directory is incomplete or inconsistent (missing shard, bad index, bad config.json).</summary>
public sealed class ModelDirectoryException : EngineException
{
    /// <summary>A model directory error; <paramref name="message"/> names the directory or file.</summary>
    public ModelDirectoryException(string message) : base(message) { }
    /// <summary>A model directory error caused by <paramref name="inner"/> (an I/O or JSON error).</summary>
    public ModelDirectoryException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Writing an output failed (target exists, disk full, ...). Nothing is left at the target.</summary>
public sealed class OutputException : EngineException
{
    /// <summary>An output error; <paramref name="message"/> names the target.</summary>
    public OutputException(string message) : base(message) { }
    /// <summary>An output error caused by <paramref name="inner"/> (usually an I/O error).</summary>
    public OutputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>An input file changed (truncated, rewritten, replaced) while it was being read: what was read may
/// mix two versions of it, so nothing built from it is published.</summary>
public sealed class InputChangedException : EngineException
{
    /// <summary>The file at <paramref name="path"/> changed as <paramref name="change"/> says.</summary>
    public InputChangedException(string path, string change)
        : base($"{path}: input changed while it was being read ({change}); nothing was written from it") => FilePath = path;

    /// <summary>The file that changed.</summary>
    public string FilePath { get; }
}
