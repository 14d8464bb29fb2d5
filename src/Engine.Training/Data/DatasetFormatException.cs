using Engine.Core;

namespace Engine.Training.Data;

/// <summary>A JSONL row, or a whole data file, breaks the expected format. The message names the file and line.</summary>
public sealed class DatasetFormatException : EngineException
{
    public DatasetFormatException(string path, int line, string problem) : base($"{path}:{line}: {problem}")
    {
        FilePath = path;
        Line = line;
    }

    public string FilePath { get; }

    /// <summary>1-based line number.</summary>
    public int Line { get; }
}
