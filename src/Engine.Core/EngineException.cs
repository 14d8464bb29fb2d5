namespace Engine.Core;

/// <summary>Base of every error the engine reports to a user: the message is one line naming the file,
/// tensor and values involved, fit to print as it is.</summary>
public class EngineException : Exception
{
    public EngineException(string message) : base(message) { }
    public EngineException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A safetensors file breaks the format: bad header length, JSON, dtype, shape or offsets.</summary>
public sealed class SafetensorsFormatException : EngineException
{
    public SafetensorsFormatException(string path, string problem)
        : base($"{path}: invalid safetensors file: {problem}") => FilePath = path;

    public string FilePath { get; }
}

/// <summary>A model directory is incomplete or inconsistent (missing shard, bad index, bad config.json).</summary>
public sealed class ModelDirectoryException : EngineException
{
    public ModelDirectoryException(string message) : base(message) { }
    public ModelDirectoryException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Writing an output failed (target exists, disk full, ...). Nothing is left at the target.</summary>
public sealed class OutputException : EngineException
{
    public OutputException(string message) : base(message) { }
    public OutputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>An input file changed (truncated, rewritten, replaced) while it was being read: what was read may
/// mix two versions of it, so nothing built from it is published.</summary>
public sealed class InputChangedException : EngineException
{
    public InputChangedException(string path, string change)
        : base($"{path}: input changed while it was being read ({change}); nothing was written from it") => FilePath = path;

    public string FilePath { get; }
}
