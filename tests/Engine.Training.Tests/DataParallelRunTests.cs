using System.Diagnostics;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary><c>mpirun -np 2 engine sft</c> end to end: the same model as one process with twice the accumulation,
/// stage 0 against stage 1, repeatability, resume (same and other rank count), and failures that must end the
/// whole job with a message naming the rank.</summary>
public sealed class DataParallelRunTests
{
    [RequiresMpiFact]
    public void TwoRanksTrainTheModelOfOneProcessWithTwiceTheAccumulation()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        string single = temp.Combine("single"), stage1 = temp.Combine("stage1"), stage0 = temp.Combine("stage0"), again = temp.Combine("again");

        var one = EngineProcess.Run(DataParallelFixture.Sft(model, data, single, "--grad-accum", "4"));
        var two = MpiProcess.Run(2, DataParallelFixture.Sft(model, data, stage1, "--grad-accum", "2"));
        var zero = MpiProcess.Run(2, DataParallelFixture.Sft(model, data, stage0, "--grad-accum", "2", "--zero-stage", "0"));
        // The same job through MPI's own collectives (as across machines) instead of the shared-memory window.
        var repeat = MpiProcess.RunWith(new Dictionary<string, string> { ["ENG_MPI_SHARED_MEMORY"] = "0" }, 2,
            DataParallelFixture.Sft(model, data, again, "--grad-accum", "2"));

        foreach (var r in new[] { one, two, zero, repeat }) Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("engine sft: 2 rank(s), global batch 4 sequences (1 per micro-batch x 2 accumulation x 2 ranks)", two.Stderr);
        Assert.Contains("(zero stage 1)", two.Stderr);
        Assert.Contains("(zero stage 0)", zero.Stderr);
        // Only rank 0 speaks: one plan, four step lines.
        Assert.Single(two.Stderr.Split('\n'), l => l.Contains("rank(s), global batch"));
        Assert.Equal(4, two.Stderr.Split('\n').Count(l => l.StartsWith("step ")));

        var expected = DataParallelFixture.Parameters(model, Path.Combine(single, "checkpoint-4"));
        var sharded = DataParallelFixture.Parameters(model, Path.Combine(stage1, "checkpoint-4"));
        var replicated = DataParallelFixture.Parameters(model, Path.Combine(stage0, "checkpoint-4"));
        DataParallelFixture.AssertClose(expected, sharded, 1e-5, "2 ranks stage 1 vs 1 process");
        DataParallelFixture.AssertClose(expected, replicated, 1e-5, "2 ranks stage 0 vs 1 process");
        DataParallelFixture.AssertClose(replicated, sharded, 1e-6, "stage 1 vs stage 0");
        var losses = DataParallelFixture.Losses(single);
        foreach (var run in new[] { stage1, stage0 })
        {
            var l = DataParallelFixture.Losses(run);
            for (int i = 0; i < losses.Length; i++) Assert.True(Math.Abs(losses[i] - l[i]) <= 1e-5 * Math.Abs(losses[i]), $"{run} step {i + 1}: {l[i]} vs {losses[i]}");
        }
        Assert.Contains("transport: MPI, sums and gathers through a shared-memory window", two.Stderr);
        Assert.Contains("transport: MPI collectives", repeat.Stderr);
        // Two runs with the same rank count, one per transport: the same bits (a sum of two is the same either way).
        Assert.Equal(File.ReadAllBytes(Path.Combine(stage1, "checkpoint-4", "optimizer", "params.f32")),
            File.ReadAllBytes(Path.Combine(again, "checkpoint-4", "optimizer", "params.f32")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(stage1, "checkpoint-4", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(again, "checkpoint-4", "model.safetensors")));
        // Stage 1 keeps one shard of the moments per rank; stage 0 one full copy.
        Assert.True(File.Exists(Path.Combine(stage1, "checkpoint-4", "optimizer", "adam_m.rank00001.f32")));
        Assert.False(File.Exists(Path.Combine(stage0, "checkpoint-4", "optimizer", "adam_m.rank00001.f32")));
    }

    [RequiresMpiFact]
    public void KilledJobResumesBitIdenticallyAndOnOtherRankCounts()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        string straight = temp.Combine("straight"), killed = temp.Combine("killed");
        string[] Args(string outDir, params string[] more) => DataParallelFixture.Sft(model, data, outDir, ["--grad-accum", "2", "--save-steps", "2", .. more]);

        var full = MpiProcess.Run(2, Args(straight));
        Assert.True(full.ExitCode == 0, full.Stderr);
        // SIGKILL the whole job as soon as step 3 is logged: checkpoint-2 is the newest complete one.
        var crash = MpiProcess.Run((line, mpirun) =>
        {
            if (line.StartsWith("step 3/4")) mpirun.Kill(entireProcessTree: true);
        }, [new MpiProcess.Rank(2, Args(killed))]);
        Assert.NotEqual(0, crash.ExitCode);
        Assert.True(File.Exists(Path.Combine(killed, "checkpoint-2", "trainer_state.json")));

        var resumed = MpiProcess.Run(2, Args(killed, "--resume"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("resuming from ", resumed.Stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoint-4", "optimizer", "params.f32")),
            File.ReadAllBytes(Path.Combine(killed, "checkpoint-4", "optimizer", "params.f32")));
        Assert.Equal(DataParallelFixture.Losses(straight), DataParallelFixture.Losses(killed));

        // One process with the same global batch continues the 2-rank checkpoint: the state is re-sharded.
        string solo = temp.Combine("solo");
        Directory.CreateDirectory(solo);
        CopyDirectory(Path.Combine(straight, "checkpoint-2"), Path.Combine(solo, "checkpoint-2"));
        var one = EngineProcess.Run(DataParallelFixture.Sft(model, data, solo, "--grad-accum", "4", "--save-steps", "2", "--resume"));
        Assert.True(one.ExitCode == 0, one.Stderr);
        DataParallelFixture.AssertClose(DataParallelFixture.Parameters(model, Path.Combine(straight, "checkpoint-4")),
            DataParallelFixture.Parameters(model, Path.Combine(solo, "checkpoint-4")), 1e-5, "resumed on 1 rank vs 2 ranks");

        // Another global batch changes the data of every step: refused.
        var other = EngineProcess.Run(DataParallelFixture.Sft(model, data, solo, "--grad-accum", "2", "--resume"));
        Assert.Equal(1, other.ExitCode);
        Assert.Contains("the global batch (--batch-size x --grad-accum x ranks) was 4 when this checkpoint was saved, now 2", other.Stderr);
    }

    [RequiresMpiFact]
    public void KilledRankEndsTheJobAndLeavesTheLastCheckpointResumable()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp, rows: 64);
        string outDir = temp.Combine("out");
        string[] args = DataParallelFixture.Sft(model, data, outDir, "--max-steps", "400", "--save-steps", "2");
        var clock = Stopwatch.StartNew();
        double killedAt = 0;
        var run = MpiProcess.Run((line, mpirun) =>
        {
            if (killedAt > 0 || !line.StartsWith("step 3/")) return;
            killedAt = clock.Elapsed.TotalSeconds;
            int victim = MpiProcess.RankProcesses(mpirun).Last();
            Process.GetProcessById(victim).Kill();
        }, [new MpiProcess.Rank(2, args)]);

        Assert.True(killedAt > 0, run.Stderr);
        Assert.NotEqual(0, run.ExitCode);
        Assert.True(clock.Elapsed.TotalSeconds - killedAt < 60, $"the job took {clock.Elapsed.TotalSeconds - killedAt:F0} s to end after the kill");
        Assert.Contains("rank 1", run.Stderr);
        string newest = Engine.Training.Sft.SftTrainer.NewestCheckpoint(outDir)!;
        Assert.NotNull(newest);
        var resumed = MpiProcess.Run(2, DataParallelFixture.Sft(model, data, outDir, "--max-steps", "400", "--save-steps", "0", "--resume"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains($"resuming from {newest}", resumed.Stderr);
        Assert.True(File.Exists(Path.Combine(outDir, "checkpoint-400", "trainer_state.json")));
    }

    [RequiresMpiFact]
    public void RanksWithDifferentSettingsAreRefusedByName()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        string outDir = temp.Combine("out");

        var run = MpiProcess.Run(null, [new MpiProcess.Rank(1, DataParallelFixture.Sft(model, data, outDir, "--seq-len", "32")),
            new MpiProcess.Rank(1, DataParallelFixture.Sft(model, data, outDir, "--seq-len", "16"))]);

        Assert.NotEqual(0, run.ExitCode);
        Assert.Single(run.Stderr.Split('\n'), l => l.StartsWith("engine: error: "));
        Assert.Contains("engine: error: sft: the ranks disagree on --seq-len: rank 0 has 32, rank 1 has 16; start every rank with the same options and files", run.Stderr);
        Assert.False(Directory.Exists(Path.Combine(outDir, "checkpoint-4")));
    }

    [RequiresMpiFact]
    public void BadRowOnOneRankEndsTheJobNamingTheRank()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        string bad = temp.Combine("bad.jsonl");
        File.WriteAllLines(bad, [.. File.ReadAllLines(data).Take(3), "{\"input_ids\": [1, 2, \"x\"]}"]);
        string outDir = temp.Combine("out");
        var clock = Stopwatch.StartNew();

        var run = MpiProcess.Run(null, [new MpiProcess.Rank(1, DataParallelFixture.Sft(model, data, outDir)),
            new MpiProcess.Rank(1, DataParallelFixture.Sft(model, bad, outDir))]);

        Assert.NotEqual(0, run.ExitCode);
        Assert.True(clock.Elapsed.TotalSeconds < 60);
        Assert.Contains($"engine: error: rank 1 of 2 (", run.Stderr);
        Assert.Contains($"{bad}:4:", run.Stderr);
    }

    [Fact]
    public void LauncherWithoutTheMpiBindingIsAOneLineError()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        // The engine as a build without MPI has it: everything but libengine_mpi.
        string engine = temp.Combine("engine");
        CopyDirectory(AppContext.BaseDirectory, engine);
        File.Delete(Path.Combine(engine, "libengine_mpi.so"));
        var start = EngineProcess.Start(Path.Combine(engine, "engine.dll"), DataParallelFixture.Sft(model, data, temp.Combine("out")));
        start.Environment["OMPI_COMM_WORLD_SIZE"] = "2";
        var run = EngineProcess.Run(start);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"engine: error: started by a launcher as one of 2 ranks (OMPI_COMM_WORLD_SIZE=2), but this build has no MPI binding " +
            $"({Path.Combine(engine, "libengine_mpi.so")} was not built: no MPI was found when the engine was built; install libopenmpi-dev and rebuild); " +
            "or run without mpirun", run.Stderr.Trim());
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from)) CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}
