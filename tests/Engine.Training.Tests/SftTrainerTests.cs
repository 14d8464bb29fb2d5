using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Testing;
using Engine.Training.Data;
using Engine.Training.Sft;

namespace Engine.Training.Tests;

/// <summary>The SFT loop: 10 steps against the float64 reference, bit-identical resume after a crash,
/// learning-rate schedules, packing.</summary>
public sealed class SftTrainerTests
{
    private sealed class SyncProgress(Action<SftStepMetrics> report) : IProgress<SftStepMetrics>
    {
        public void Report(SftStepMetrics value) => report(value);
    }

    private static string WriteModel(TempDirectory temp, Qwen2Fixture f, DType dtype)
    {
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var layout = f.CreateModel(context, ComputeDType.Float32);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen2ForCausalLM"), ["model_type"] = "qwen2",
            ["vocab_size"] = f.Config.VocabSize, ["hidden_size"] = f.Config.HiddenSize, ["intermediate_size"] = f.Config.IntermediateSize,
            ["num_hidden_layers"] = f.Config.NumLayers, ["num_attention_heads"] = f.Config.NumHeads,
            ["num_key_value_heads"] = f.Config.NumKeyValueHeads, ["rms_norm_eps"] = f.Config.RmsNormEps, ["rope_theta"] = f.Config.RopeTheta,
            ["tie_word_embeddings"] = f.Config.TieWordEmbeddings, ["torch_dtype"] = dtype.TorchName(),
        };
        string dir = temp.Combine("model");
        TestModels.Write(dir, dtype, layout.Parameters.Select(p => (p.Name, p.Shape.ToArray(), f.GetSingle("param/" + p.Name))), config);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{}");
        return dir;
    }

    private static List<TokenizedExample> Documents(Qwen2Fixture f)
    {
        var list = new List<TokenizedExample>();
        int start = 0;
        foreach (int n in f.DocumentLengths)
        {
            list.Add(new TokenizedExample(list.Count + 1, f.Tokens[start..(start + n)], f.Labels[start..(start + n)]));
            start += n;
        }
        return list;
    }

    private static List<JsonObject> Metrics(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, SftTrainer.MetricsFile)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    [Theory]
    [InlineData("untied_gqa")]
    [InlineData("tied_mqa")]
    public void TenStepsMatchReference(string caseName)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f, DType.F32);
        var a = f.AdamW;
        var options = new SftOptions(a.Lr, maxSteps: f.Steps, seqLen: 64, packing: PackingMode.Greedy, adamBeta1: a.Beta1, adamBeta2: a.Beta2,
            adamEps: a.Eps, weightDecay: a.WeightDecay, maxGradNorm: a.MaxGradNorm, threads: 2);
        string outDir = temp.Combine("out");

        var result = SftTrainer.Run(model, Documents(f), outDir, options);

        Assert.Equal(f.Steps, result.Steps);
        var metrics = Metrics(outDir);
        Assert.Equal(Enumerable.Range(1, f.Steps).Select(i => (long)i), metrics.Select(m => (long)m["step"]!));
        var tolerance = new Tolerance(1e-4, 1e-3);
        tolerance.AssertClose($"{caseName}/sft step losses", f.Get("step_losses"), metrics.Select(m => (double)m["loss"]!).ToArray());
        tolerance.AssertClose($"{caseName}/sft grad norms", f.Get("grad_norms"), metrics.Select(m => (double)m["grad_norm"]!).ToArray());
        Assert.Equal(Path.Combine(outDir, $"checkpoint-{f.Steps}"), result.FinalCheckpoint);
        Assert.True(File.Exists(Path.Combine(result.FinalCheckpoint, "tokenizer.json")));
        // The checkpoint is an HF directory the trainer loads again: its loss is the loss after the last step.
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var directory = Core.Model.ModelDirectory.Open(result.FinalCheckpoint);
        using var reloaded = Qwen2Model.Load(context, directory);
        Assert.True(reloaded.Forward(f.Batch).Mean < f.Get("step_losses")[^1]);
    }

    [Fact]
    public void ResumeAfterCrashIsBitIdentical()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f, DType.BF16);
        // Three one-document sequences, two per step (grad accumulation), shuffled per epoch: 4 epochs.
        var options = new SftOptions(5e-3, LrSchedule.Cosine, warmupRatio: 0.25, epochs: 4, gradAccum: 2, seqLen: 16,
            packing: PackingMode.None, weightDecay: 0.1, maxGradNorm: 1.0, seed: 3, saveSteps: 3, threads: 2);
        string straight = temp.Combine("straight"), crashed = temp.Combine("crashed");

        SftTrainer.Run(model, Documents(f), straight, options);
        using (var cts = new CancellationTokenSource())
        {
            var stop = new SyncProgress(m => { if (m.Step == 5) cts.Cancel(); });
            Assert.Throws<OperationCanceledException>(() => SftTrainer.Run(model, Documents(f), crashed, options, progress: stop, cancellation: cts.Token));
        }
        Assert.Equal(Path.Combine(crashed, "checkpoint-3"), SftTrainer.NewestCheckpoint(crashed));
        var resumed = SftTrainer.Run(model, Documents(f), crashed, options, resume: true);

        Assert.Equal(3, resumed.ResumedFromStep);
        Assert.Equal(8, resumed.Steps);
        string[] fields = ["step", "loss", "lr", "grad_norm", "tokens"];
        var a = Metrics(straight).Select(m => string.Join(",", fields.Select(k => m[k]!.ToJsonString()))).ToList();
        var b = Metrics(crashed).Select(m => string.Join(",", fields.Select(k => m[k]!.ToJsonString()))).ToList();
        Assert.Equal(a, b);
        foreach (var file in new[] { "model.safetensors", "optimizer/params-00000.f32", "optimizer/adam_m-00000.f32", "optimizer/adam_v-00000.f32" })
            Assert.True(File.ReadAllBytes(Path.Combine(straight, "checkpoint-8", file)).SequenceEqual(File.ReadAllBytes(Path.Combine(crashed, "checkpoint-8", file))), file);
        using var directory = Core.Model.ModelDirectory.Open(Path.Combine(crashed, "checkpoint-8"));
        Assert.Equal(DType.BF16, directory.GetTensor("model.embed_tokens.weight").Info.DType);
    }

    [Fact]
    public void LearningRateSchedulesFollowTransformers()
    {
        const double lr = 2e-4;
        var cosine = new SftOptions(lr, LrSchedule.Cosine, warmupRatio: 0.2);
        Assert.Equal(0.0, cosine.LearningRate(1, 10));
        Assert.Equal(lr * 0.5, cosine.LearningRate(2, 10), 15);
        Assert.Equal(lr, cosine.LearningRate(3, 10), 15);
        Assert.Equal(lr * 0.5 * (1 + Math.Cos(Math.PI * 7 / 8)), cosine.LearningRate(10, 10), 15);
        var warm = new SftOptions(lr, LrSchedule.ConstantWithWarmup, warmupRatio: 0.3);
        Assert.Equal(lr / 3, warm.LearningRate(2, 10), 15);
        Assert.Equal(lr, warm.LearningRate(9, 10), 15);
        Assert.Equal(lr, new SftOptions(lr).LearningRate(1, 10));
    }

    [Fact]
    public void GreedyPackingKeepsDocumentsWholeAndTruncatesLongOnes()
    {
        var examples = new List<TokenizedExample>
        {
            new(1, [1, 2, 3], [1, 2, 3]), new(2, [4, 5], [-100, 5]), new(3, [6, 7, 8, 9, 10, 11], [6, 7, 8, 9, 10, 11]), new(4, [12], [12]),
        };
        var packed = SequencePacker.Pack(examples, seqLen: 5, PackingMode.Greedy);
        Assert.Equal(3, packed.Count);
        Assert.Equal([1, 2, 3, 4, 5], packed[0].Tokens);
        Assert.Equal([3, 2], packed[0].DocumentLengths);
        Assert.Equal([-100, 5], packed[0].Labels[3..]);
        Assert.Equal([6, 7, 8, 9, 10], packed[1].Tokens);
        Assert.Equal([12], packed[2].Tokens);
        Assert.Equal(4, SequencePacker.Pack(examples, seqLen: 5, PackingMode.None).Count);
    }
}
