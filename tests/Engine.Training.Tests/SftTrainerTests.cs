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
    public void ARunStartedFromAnotherRunsCheckpointSavesItsOwnState()
    {
        // Continuing SFT from a finished run's checkpoint (which holds that run's trainer_state.json): the new run's
        // checkpoint holds the new run's state, not a copy of the old one, and the save does not fail.
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f, DType.F32);
        var first = SftTrainer.Run(model, Documents(f), temp.Combine("first"), new SftOptions(1e-3, maxSteps: 3, seqLen: 64, threads: 1));
        Assert.True(File.Exists(Path.Combine(first.FinalCheckpoint, SftCheckpoints.StateFile)));

        var second = SftTrainer.Run(first.FinalCheckpoint, Documents(f), temp.Combine("second"), new SftOptions(1e-3, maxSteps: 2, seqLen: 64, threads: 1));

        Assert.Equal(Path.Combine(temp.Combine("second"), "checkpoint-2"), second.FinalCheckpoint);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(second.FinalCheckpoint, SftCheckpoints.StateFile)))!;
        Assert.Equal(2, (long)state["step"]!);
        Assert.Equal(2, (long)state["total_steps"]!);
        Assert.True(File.Exists(Path.Combine(second.FinalCheckpoint, "tokenizer.json")));
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
        // A kill while checkpoint-6 was being written leaves its hidden staging directory, whose lock died with it.
        string partial = Path.Combine(crashed, $".checkpoint-6.partial-{int.MaxValue}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(partial, "optimizer"));
        Assert.Equal(Path.Combine(crashed, "checkpoint-3"), SftTrainer.NewestCheckpoint(crashed));
        // The thread count may change on resume without changing the result.
        var resumed = SftTrainer.Run(model, Documents(f), crashed, new SftOptions(5e-3, LrSchedule.Cosine, warmupRatio: 0.25, epochs: 4,
            gradAccum: 2, seqLen: 16, packing: PackingMode.None, weightDecay: 0.1, maxGradNorm: 1.0, seed: 3, saveSteps: 3, threads: 1), resume: true);

        Assert.Equal(3, resumed.ResumedFromStep);
        Assert.False(Directory.Exists(partial));
        Assert.Equal(8, resumed.Steps);
        string[] fields = ["step", "loss", "lr", "grad_norm", "tokens"];
        var a = Metrics(straight).Select(m => string.Join(",", fields.Select(k => m[k]!.ToJsonString()))).ToList();
        var b = Metrics(crashed).Select(m => string.Join(",", fields.Select(k => m[k]!.ToJsonString()))).ToList();
        Assert.Equal(a, b);
        foreach (var file in new[] { "model.safetensors", "optimizer/params.f32", "optimizer/adam_m.rank00000.f32", "optimizer/adam_v.rank00000.f32" })
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

    private static SftOptions Small(double lr = 5e-3, PackingMode packing = PackingMode.None, int threads = 2, long saveSteps = 1) =>
        new(lr, LrSchedule.Cosine, warmupRatio: 0.25, maxSteps: 4, seqLen: 16, packing: packing, weightDecay: 0.1, seed: 3, saveSteps: saveSteps,
            threads: threads);

    /// <summary>Runs <see cref="Small"/> options into <paramref name="outDir"/> and stops after step 2 (checkpoint-2 saved).</summary>
    private static void RunTwoStepsAndStop(string model, List<TokenizedExample> examples, string outDir)
    {
        using var cts = new CancellationTokenSource();
        var stop = new SyncProgress(m => { if (m.Step == 2) cts.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => SftTrainer.Run(model, examples, outDir, Small(), progress: stop, cancellation: cts.Token));
    }

    [Fact]
    public void ResumeRefusesSettingsThatChangeTheTrajectory()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f, DType.F32);
        string outDir = temp.Combine("out");
        RunTwoStepsAndStop(model, Documents(f), outDir);
        string state = Path.Combine(outDir, "checkpoint-2", SftTrainer.StateFile);

        string Refusal(string modelPath, List<TokenizedExample> examples, SftOptions options) =>
            Assert.Throws<EngineException>(() => SftTrainer.Run(modelPath, examples, outDir, options, resume: true)).Message;

        Assert.Equal($"{state}: --lr was 0.005 when this checkpoint was saved, now 0.001; resume with the run's settings " +
            "(only --threads, --save-steps, the rank count, --zero-stage and the split of the global batch into --batch-size x --grad-accum x ranks may change) or choose another --out", Refusal(model, Documents(f), Small(lr: 1e-3)));
        Assert.StartsWith($"{state}: --packing was \"none\" when this checkpoint was saved, now \"neat\"", Refusal(model, Documents(f), Small(packing: PackingMode.Neat)));
        Assert.StartsWith($"{state}: the number of examples in --data was 3 when", Refusal(model, Documents(f).Take(2).ToList(), Small()));
        var changed = Documents(f);
        changed[1] = changed[1] with { InputIds = [.. changed[1].InputIds[..^1], (changed[1].InputIds[^1] + 1) % f.Config.VocabSize] };
        Assert.StartsWith($"{state}: the tokenized --data (sha256) was \"", Refusal(model, changed, Small()));
        string other = temp.Combine("other-model");
        Directory.CreateDirectory(other);
        foreach (var file in Directory.GetFiles(model)) File.Copy(file, Path.Combine(other, Path.GetFileName(file)));
        using (var stream = File.Open(Path.Combine(other, "model.safetensors"), FileMode.Open))
        {
            stream.Seek(-1, SeekOrigin.End);
            int last = stream.ReadByte();
            stream.Seek(-1, SeekOrigin.End);
            stream.WriteByte((byte)(last ^ 1));
        }
        Assert.StartsWith($"{state}: --model (sha256 of its config and tensors) was \"", Refusal(other, Documents(f), Small()));

        // The same model copied elsewhere, fewer threads, other save steps: accepted.
        File.Copy(Path.Combine(model, "model.safetensors"), Path.Combine(other, "model.safetensors"), overwrite: true);
        var resumed = SftTrainer.Run(other, Documents(f), outDir, Small(threads: 1, saveSteps: 0), resume: true);
        Assert.Equal(2, resumed.ResumedFromStep);
        var saved = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "checkpoint-4", SftTrainer.StateFile)))!.AsObject();
        Assert.Equal(4, (long)saved["step"]!);
        Assert.Equal(4, (long)saved["total_steps"]!);
        Assert.Equal("none", (string)saved["run"]!["packing"]!);
        Assert.Equal(1, (int)saved["run"]!["threads"]!);
        Assert.Equal(3, (int)saved["run"]!["data_examples"]!);
    }

    [Fact]
    public void ResumeWithNoCheckpointStartsAtStepZero()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f, DType.F32);

        var result = SftTrainer.Run(model, Documents(f), temp.Combine("out"), Small(saveSteps: 0), resume: true);

        Assert.Equal(0, result.ResumedFromStep);
        Assert.Equal(4, Metrics(temp.Combine("out")).Count);
    }

    [Fact]
    public void PreviousRunIsNeverClobberedSilently()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f, DType.F32);
        string outDir = temp.Combine("out");
        RunTwoStepsAndStop(model, Documents(f), outDir);
        File.WriteAllText(Path.Combine(outDir, "notes.txt"), "mine");

        var e = Assert.Throws<EngineException>(() => SftTrainer.Run(model, Documents(f), outDir, Small()));
        Assert.Equal($"{outDir}: holds a previous run (checkpoint-2); pass --resume to continue it, --overwrite-output-dir to delete it " +
            "and start over, or choose another --out", e.Message);
        Assert.Throws<EngineException>(() => SftTrainer.Run(model, Documents(f), outDir, Small(), resume: true, overwriteOutputDir: true));

        var result = SftTrainer.Run(model, Documents(f), outDir, Small(saveSteps: 3), overwriteOutputDir: true);

        Assert.Equal(0, result.ResumedFromStep);
        Assert.Equal(new[] { "checkpoint-3", "checkpoint-4" }, Directory.GetDirectories(outDir).Select(d => Path.GetFileName(d)).Order().ToArray());
        Assert.Equal(4, Metrics(outDir).Count);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outDir, "notes.txt")));
    }
}
