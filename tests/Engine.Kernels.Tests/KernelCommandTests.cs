using System.Text.Json.Nodes;
using Engine.Testing;

namespace Engine.Kernels.Tests;

/// <summary><c>engine selftest</c> and <c>engine bench kernels</c> as a user runs them (small, CPU-only inputs).</summary>
public sealed class KernelCommandTests
{
    [Fact]
    public void SelftestOnTheIlgpuSimulatorPassesAndReportsEveryKernel()
    {
        var run = EngineProcess.Run("selftest", "--device", "ilgpu-cpu", "--seed", "5", "--threads", "2", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        var report = JsonNode.Parse(run.Stdout)!;
        Assert.True(report["passed"]!.GetValue<bool>());
        Assert.Equal(5, report["seed"]!.GetValue<int>());
        var kernels = report["cases"]!.AsArray().Select(c => c!["kernel"]!.GetValue<string>()).Distinct().Order().ToArray();
        string[] arceeFusion = ["kept_importance", "masked_select", "row_importance", "row_importance (bf16 emulation)", "select_ranks"];
        Assert.Equal(arceeFusion.Concat(Engine.Kernels.Parity.ElementwiseSelfTest.Kernels).Order(StringComparer.Ordinal), kernels.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void AnUnknownDeviceIsAnInputError()
    {
        var run = EngineProcess.Run("selftest", "--device", "tpu");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("choose one of", run.Stderr);
    }

    [Fact]
    public void BenchKernelsTimesTheIlgpuKernelsOnDeviceResidentData()
    {
        var run = EngineProcess.Run("bench", "kernels", "--device", "ilgpu-cpu", "--elements", "10240", "--repeat", "1", "--threads", "2", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        var resident = JsonNode.Parse(run.Stdout)!["results"]!.AsArray().Where(r => r!["scope"]!.GetValue<string>() == "device-resident")
            .Select(r => r!["kernel"]!.GetValue<string>()).ToArray();
        Assert.Equal(["upload (host to device, staged)", "copy (device to device)", "row_importance", "masked_select (to bf16)", "select_ranks (Q25/Q50/Q75, 3 passes)"], resident);
    }

    [Theory]
    [InlineData("--elements", "0", "--elements must be at least 1, got 0")]
    [InlineData("--repeat", "-1", "--repeat must be at least 1, got -1")]
    [InlineData("--quantile-elements", "-5", "--quantile-elements must be 0 (off) or positive, got -5")]
    [InlineData("--threads", "-2", "--threads -2 must be 0 (all cores) or positive")]
    public void BenchKernelsRefusesBadCountsInOneLine(string option, string value, string message)
    {
        var run = EngineProcess.Run("bench", "kernels", "--device", "cpu", option, value);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"engine: error: {message}", run.Stderr.Trim());
    }

    [Fact]
    public void BenchKernelsReportsTimesAndTheCopyFraction()
    {
        var run = EngineProcess.Run("bench", "kernels", "--device", "cpu", "--elements", "20480", "--repeat", "1", "--threads", "2", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        var rows = JsonNode.Parse(run.Stdout)!["results"]!.AsArray();
        Assert.Equal(5, rows.Count);
        foreach (var row in rows)
        {
            Assert.True(row!["median_ms"]!.GetValue<double>() >= 0);
            Assert.True(row["fraction_of_copy"]!.GetValue<double>() > 0);
        }
    }
}
