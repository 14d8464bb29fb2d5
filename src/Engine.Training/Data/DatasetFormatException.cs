using Engine.Core;

namespace Engine.Training.Data;

/// <summary>A JSONL row, or a whole data file, breaks the expected format. The message names the file and line.</summary>
public sealed class DatasetFormatException : EngineException
{
    /// <summary>A format error at <paramref name="line"/> of <paramref name="path"/>; the message is <c>path:line: problem</c>.</summary>
    public DatasetFormatException(string path, int line, string problem) : base($"{path}:{line}: {problem}")
    {
        FilePath = path;
        Line = line;
    }

    /// <summary>The data file.</summary>
    public string FilePath { get; }

    /// <summary>1-based line number.</summary>
    public int Line { get; }
}
