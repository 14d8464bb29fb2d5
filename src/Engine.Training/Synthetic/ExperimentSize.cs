using System.Globalization;
using Engine.Training.Sft;

namespace Engine.Training.Synthetic;

/// <summary>How big the embedded experiment is: the backbone's shape and pre-training, the rows of each domain, and
/// the SFT settings the recipe gives every branch. <see cref="Default"/> is tuned to run the whole pipeline (backbone,
/// experts, mixture, merges, evaluations) in about 5 minutes on 2 CPU cores, <see cref="Small"/> in about 30;
/// docs/experiment.md records what each measured.</summary>
/// <param name="Name">The name <see cref="Parse"/> accepts and caches are keyed by.</param>
/// <param name="HiddenSize">The backbone's hidden size (Qwen2, byte-level vocabulary of 259 ids, tied embeddings).</param>
/// <param name="IntermediateSize">The MLP's inner size.</param>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Heads">Attention heads (head dim = hidden / heads).</param>
/// <param name="KeyValueHeads">Key/value heads (GQA).</param>
/// <param name="PretrainRows">Rows of the general mixture the backbone is pre-trained on (one epoch).</param>
/// <param name="PretrainLr">The backbone's peak learning rate (cosine schedule with warmup).</param>
/// <param name="MathTrainRows">Training rows of the math domain.</param>
/// <param name="CodingTrainRows">Training rows of the coding domain. A tiny model learns to copy characters from a
/// string literal by position slowly, so the default size gives coding twice the rows of the others.</param>
/// <param name="ScienceTrainRows">Training rows of the science domain.</param>
/// <param name="EvalRows">Held-out rows per domain.</param>
/// <param name="MathDigits">Digits of each addend of the math domain.</param>
/// <param name="UnitFacts">Facts in the science domain's table.</param>
/// <param name="SftLr">Peak learning rate of every branch's SFT (cosine schedule with warmup).</param>
/// <param name="SftEpochs">Passes over a domain's training rows.</param>
/// <param name="BatchSize">Packed sequences per optimizer step (pre-training and SFT).</param>
/// <param name="SeqLen">Tokens per packed sequence.</param>
public sealed record ExperimentSize(string Name, int HiddenSize, int IntermediateSize, int Layers, int Heads, int KeyValueHeads,
    int PretrainRows, double PretrainLr, int MathTrainRows, int CodingTrainRows, int ScienceTrainRows, int EvalRows, int MathDigits, int UnitFacts, double SftLr, int SftEpochs,
    int BatchSize, int SeqLen)
{
    /// <summary>The byte-level tokenizer's 256 bytes and 3 ChatML tokens.</summary>
    public const int VocabSize = 259;

    /// <summary>Share of each run's steps spent warming the learning rate up.</summary>
    public const double WarmupRatio = 0.1;

    /// <summary>The size <c>engine demo</c> runs: about 5 minutes on 2 cores, pre-training included.</summary>
    public static ExperimentSize Default { get; } = new("default", HiddenSize: 64, IntermediateSize: 256, Layers: 2, Heads: 4, KeyValueHeads: 2,
        PretrainRows: 12000, PretrainLr: 8e-3, MathTrainRows: 6000, CodingTrainRows: 12000, ScienceTrainRows: 6000, EvalRows: 200, MathDigits: 2, UnitFacts: 24, SftLr: 5e-3,
        SftEpochs: 1, BatchSize: 2, SeqLen: 256);

    /// <summary>The larger version (<c>engine demo --size small</c>): at most 30 minutes on 2 cores.</summary>
    public static ExperimentSize Small { get; } = new("small", HiddenSize: 96, IntermediateSize: 384, Layers: 3, Heads: 4, KeyValueHeads: 2,
        PretrainRows: 40000, PretrainLr: 5e-3, MathTrainRows: 24000, CodingTrainRows: 12000, ScienceTrainRows: 12000, EvalRows: 300, MathDigits: 2, UnitFacts: 48, SftLr: 3e-3,
        SftEpochs: 1, BatchSize: 2, SeqLen: 256);

    /// <summary>A seconds-long version for tests of the whole <c>engine demo</c> command (a backbone of a few thousand
    /// parameters pre-trained for about a hundred steps, a few dozen rows per domain): it exercises every step, but its accuracies mean nothing. Accepted by
    /// <see cref="Parse"/> but not listed in <see cref="All"/> or the command's help.</summary>
    public static ExperimentSize Test { get; } = new("test", HiddenSize: 16, IntermediateSize: 32, Layers: 1, Heads: 2, KeyValueHeads: 1,
        PretrainRows: 1500, PretrainLr: 5e-3, MathTrainRows: 24, CodingTrainRows: 24, ScienceTrainRows: 24, EvalRows: 6, MathDigits: 2, UnitFacts: 4, SftLr: 5e-3,
        SftEpochs: 1, BatchSize: 4, SeqLen: 128);

    /// <summary>The sizes offered to users.</summary>
    public static IReadOnlyList<ExperimentSize> All { get; } = [Default, Small];

    /// <summary>The size named <paramref name="name"/> ("default" or "small"; "test" for the test size); any other name
    /// is an <see cref="ArgumentException"/> listing the valid ones.</summary>
    public static ExperimentSize Parse(string name) =>
        All.Append(Test).FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"experiment size must be {string.Join(" or ", All.Select(s => s.Name))}, got '{name}'");

    /// <summary>The SFT options of one branch on a domain of this size (the recipe's <c>sft:</c> block says the same).</summary>
    public SftOptions BranchOptions(int seed) => new(SftLr, LrSchedule.Cosine, WarmupRatio, epochs: SftEpochs, batchSize: BatchSize,
        seqLen: SeqLen, packing: PackingMode.Greedy, seed: seed);

    /// <summary>The backbone's pre-training options: one epoch of the general mixture with weight decay
    /// <see cref="PretrainWeightDecay"/>, with a checkpoint every <see cref="PretrainSaveSteps"/> steps so that a killed
    /// run resumes near where it stopped.</summary>
    internal SftOptions PretrainOptions(int seed, int threads = 0) => new(PretrainLr, LrSchedule.Cosine, WarmupRatio, epochs: 1,
        batchSize: BatchSize, seqLen: SeqLen, packing: PackingMode.Greedy, weightDecay: PretrainWeightDecay, seed: seed, saveSteps: PretrainSaveSteps,
        threads: threads);

    /// <summary>Pre-training's AdamW weight decay. Measured (docs/experiment.md): without it the small backbone pre-trained
    /// at seed 1234 answered 21% of the general mixture and its math expert reached 1.7% exact match after 1,500 SFT
    /// steps; with 0.1 the same run answers 64% and the same SFT reaches 96%.</summary>
    public const double PretrainWeightDecay = 0.1;

    private const int PretrainSaveSteps = 50;

    /// <summary>Training rows of the domain named <paramref name="domain"/>.</summary>
    public int TrainRowsOf(string domain) => domain switch
    {
        "math" => MathTrainRows,
        "coding" => CodingTrainRows,
        "science" => ScienceTrainRows,
        _ => throw new ArgumentException($"no domain '{domain}' in the embedded experiment", nameof(domain)),
    };

    /// <summary>One line for logs: the name, the shape and the row counts.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name} (hidden {HiddenSize}, {Layers} layers, {PretrainRows} pre-training rows, {MathTrainRows}/{CodingTrainRows}/{ScienceTrainRows} math/coding/science training rows, {EvalRows} held-out rows per domain)");
}
