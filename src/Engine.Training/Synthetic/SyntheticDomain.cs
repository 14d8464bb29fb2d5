namespace Engine.Training.Synthetic;

/// <summary>A generated domain on disk: its name (the recipe key), its training and held-out JSONL files, and what
/// its rows measure.</summary>
public sealed record SyntheticDomain(string Name, string TrainPath, string EvalPath, string Description);
