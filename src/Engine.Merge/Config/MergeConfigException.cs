using Engine.Core;

namespace Engine.Merge.Config;

/// <summary>A merge config is malformed or asks for something unsupported; names the file and the key.</summary>
public sealed class MergeConfigException : EngineException
{
    public MergeConfigException(string message) : base(message) { }
    public MergeConfigException(string message, Exception inner) : base(message, inner) { }
}
