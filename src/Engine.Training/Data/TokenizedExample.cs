namespace Engine.Training.Data;

/// <summary>One training example: token ids and, aligned with them, labels (-100 = no loss). <see cref="Line"/> is
/// the 1-based line of the JSONL row it came from.</summary>
public sealed record TokenizedExample(int Line, int[] InputIds, int[] Labels);
