using Engine.Core;

namespace Engine.Merge.Config;

/// <summary>A merge config is malformed or asks for something unsupported; names the file and the key.</summary>
public sealed class MergeConfigException : EngineException
{
    /// <summary>A config error; <paramref name="message"/> names the file and the key.</summary>
    public MergeConfigException(string message) : base(message) { }
    /// <summary>A config error caused by <paramref name="inner"/> (an I/O or YAML error).</summary>
    public MergeConfigException(string message, Exception inner) : base(message, inner) { }
}
