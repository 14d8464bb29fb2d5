using Engine.Core.Model;
using Engine.Training.Data;

namespace Engine.Samples.Hosting;

/// <summary>Generated inputs small enough to merge and train in seconds: a tiny Qwen2-shaped base with two
/// experts of it, an Arcee Fusion config that fuses one expert into the other, and random token sequences.</summary>
public static class TinyInputs
{
    /// <summary>Writes <c>base</c>, <c>math</c> and <c>science</c> under <paramref name="root"/> (deterministic
    /// weights) and the merge config; returns the config's path.</summary>
    public static string WriteMergeInputs(string root)
    {
        Directory.CreateDirectory(root);
        const ulong baseSeed = 2025;
        foreach (var (name, seed) in new (string, ulong?)[] { ("base", null), ("math", 11), ("science", 12) })
            SyntheticCheckpoint.Write(Path.Combine(root, name), SyntheticModelSpec.Tiny, baseSeed, seed, overwrite: true);
        // Model paths in a config are relative to the config's folder.
        string config = Path.Combine(root, "math-into-science.yml");
        File.WriteAllText(config, """
            merge_method: arcee_fusion
            base_model: science
            models:
              - model: math
            parameters:
              lambda: 1.5
            dtype: bfloat16
            """ + "\n");
        return config;
    }

    /// <summary>Random training sequences over the tiny model's vocabulary; the first quarter of each is the
    /// "prompt" (label -100: no loss), the rest is learned.</summary>
    public static IReadOnlyList<TokenizedExample> Examples(int count, int seed = 7)
    {
        var random = new Random(seed);
        int vocab = SyntheticModelSpec.Tiny.VocabSize;
        var examples = new List<TokenizedExample>(count);
        for (int i = 0; i < count; i++)
        {
            int length = random.Next(12, 28);
            int[] ids = new int[length];
            for (int t = 0; t < length; t++) ids[t] = random.Next(2, vocab);
            int[] labels = ids.Select((id, t) => t < length / 4 ? -100 : id).ToArray();
            examples.Add(new TokenizedExample(i + 1, ids, labels));
        }
        return examples;
    }
}
