using Engine.Training.Sft;
using Engine.Training.Tokenization;

namespace Engine.Training.Synthetic;

/// <summary>The embedded Branch-Merge experiment (what <c>engine demo</c> runs): three generated domains (math, coding,
/// science), a backbone pre-trained here on a general mixture, and the recipe that branches it into experts, merges
/// them in both TinyR1 orders and evaluates every model. Everything follows from the size and the seed.</summary>
public static class SyntheticExperiment
{
    /// <summary>Writes <c>DIR/NAME/train.jsonl</c> and <c>DIR/NAME/eval.jsonl</c> for math, coding and science (in the
    /// recipe's column order). The same size and seed always give the same bytes; held-out rows never occur in training.</summary>
    public static IReadOnlyList<SyntheticDomain> WriteDomains(string dir, ExperimentSize size, int seed)
    {
        var domains = new List<SyntheticDomain>();
        foreach (var (generator, index) in Generators(size, seed).Select((g, i) => (g, i)))
        {
            var (train, eval) = SplitSampler.Draw(generator, new Random(DerivedSeed(seed, index)), size.TrainRowsOf(generator.Name), size.EvalRows);
            string trainPath = Path.Combine(dir, generator.Name, "train.jsonl"), evalPath = Path.Combine(dir, generator.Name, "eval.jsonl");
            ChatJsonl.Write(trainPath, train);
            ChatJsonl.Write(evalPath, eval);
            domains.Add(new SyntheticDomain(generator.Name, trainPath, evalPath, generator.Description));
        }
        return domains;
    }

    /// <summary>Pre-trains the backbone into <paramref name="modelDir"/> (an HF directory that <c>engine sft</c>,
    /// <c>eval</c> and <c>merge</c> load), or returns at once when that directory already holds the finished backbone
    /// of this size and seed. A directory holding anything else is an error; a killed run resumes from its last
    /// checkpoint. <paramref name="threads"/>: CPU threads of the trainer (0 = all cores). Returns the model directory's
    /// full path.</summary>
    public static Task<string> PretrainBackboneAsync(string modelDir, ExperimentSize size, int seed, int threads, IProgress<SftStepMetrics>? progress,
        CancellationToken cancellation) =>
        Task.Run(() => SyntheticBackbone.Pretrain(modelDir, size, seed, threads, progress, cancellation), cancellation);

    /// <summary>Whether <paramref name="modelDir"/> already holds the finished backbone of this size and seed, so that
    /// <see cref="PretrainBackboneAsync"/> would return at once (false when the directory does not exist; a directory
    /// holding anything else is an <see cref="Core.EngineException"/> naming it).</summary>
    public static bool IsBackboneCached(string modelDir, ExperimentSize size, int seed) => SyntheticBackbone.IsFinished(modelDir, size, seed);

    /// <summary>Every folder <see cref="PretrainBackboneAsync"/> into <paramref name="modelDir"/> writes (the model, and
    /// the work and staging folders beside it), for a caller that redoes the pre-training from scratch.</summary>
    public static IReadOnlyList<string> BackboneFolders(string modelDir) => SyntheticBackbone.Folders(modelDir);

    /// <summary>What a finished backbone of this size and seed is built from (the JSON its marker holds): a cached
    /// backbone is reused only when this matches, and a pipeline keys the steps that start from it on this.</summary>
    public static string BackboneKey(ExperimentSize size, int seed) => SyntheticBackbone.Key(size, seed).ToJsonString();

    /// <summary>The backbone's tokenizer (byte-level) and its vocabulary size: a data file can be read for the backbone
    /// before it is pre-trained.</summary>
    public static (ITextTokenizer Tokenizer, int VocabSize) BackboneTokenizer() => (new ByteTokenizer(), ExperimentSize.VocabSize);

    /// <summary>Writes <c>DIR/recipe.yml</c> (paths relative to it; the backbone as <c>embedded:SIZE</c>, which the
    /// pipeline pre-trains as its first step) and returns its path: see <see cref="ExperimentRecipe"/>.</summary>
    public static string WriteRecipe(string dir, IReadOnlyList<SyntheticDomain> domains, ExperimentSize size, int seed) =>
        ExperimentRecipe.Write(dir, domains, size, seed);

    /// <summary>The domain generators in column order; the science table is drawn from the seed too.</summary>
    internal static IReadOnlyList<IExampleGenerator> Generators(ExperimentSize size, int seed) =>
    [
        new ArithmeticDomain(size.MathDigits),
        new ProgramOutputDomain(),
        new UnitConversionDomain(size.UnitFacts, DerivedSeed(seed, 100)),
    ];

    /// <summary>A seed for stream <paramref name="stream"/> of the experiment (fixed arithmetic, not
    /// <see cref="HashCode"/>, which differs from process to process).</summary>
    internal static int DerivedSeed(int seed, int stream) => unchecked(seed * 1_000_003 + stream * 7919 + 17);
}
