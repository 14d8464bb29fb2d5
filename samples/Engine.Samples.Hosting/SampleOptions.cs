namespace Engine.Samples.Hosting;

/// <summary>The sample's settings, bound from the "Sample" configuration section (command line:
/// <c>--Sample:WorkDir=DIR --Sample:SftSteps=4</c>).</summary>
public sealed class SampleOptions
{
    /// <summary>The configuration section these settings come from.</summary>
    public const string Section = "Sample";

    /// <summary>Where the generated models, the merge and the SFT checkpoints go; empty: a new temporary folder,
    /// deleted at the end.</summary>
    public string WorkDir { get; set; } = "";

    /// <summary>Optimizer steps of the SFT run.</summary>
    public int SftSteps { get; set; } = 4;
}
