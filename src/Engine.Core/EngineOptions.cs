namespace Engine.Core;

/// <summary>Engine-wide settings a host configures once (<c>services.AddEngine(o => ...)</c>); the merge and the
/// trainer both read them, so they live below both.</summary>
public sealed class EngineOptions
{
    /// <summary><c>--device</c>: auto, cpu, ...</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Worker threads for CPU kernels and the trainer; 0 means every core.</summary>
    public int Threads { get; set; }
}
