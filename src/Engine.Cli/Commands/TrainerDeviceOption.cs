using System.CommandLine;
using Engine.Core;
using Engine.Interop.Cuda;
using Engine.Training;

namespace Engine.Cli.Commands;

/// <summary><c>--device</c> of the commands that run the native trainer (sft, loss, bench sft, selftest --trainer):
/// <c>cpu</c>, <c>cuda</c> (under mpirun, rank r takes GPU local rank mod visible GPUs), <c>cuda:N</c>, or
/// <c>auto</c>: the first GPU when the CUDA driver, a GPU and cuBLASLt are there, else the CPU, saying which.</summary>
public sealed class TrainerDeviceOption
{
    public Option<string> Option { get; } = new("--device")
    {
        Description = "auto | cpu | cuda | cuda:N: where the native trainer computes (auto: a GPU when one with cuBLASLt is present)",
        DefaultValueFactory = _ => "auto",
    };

    public void AddTo(Command command) => command.Options.Add(Option);

    /// <summary>The device the value names, for a process of local rank <paramref name="localRank"/>.</summary>
    /// <exception cref="EngineException">an unknown device.</exception>
    public TrainerDevice Resolve(ParseResult parse, string command, int localRank = 0) => Resolve(parse.GetValue(Option)!, command, localRank);

    /// <summary>The device <paramref name="value"/> names (the option's syntax), for local rank <paramref name="localRank"/>.</summary>
    /// <exception cref="EngineException">an unknown device.</exception>
    public TrainerDevice Resolve(string value, string command, int localRank = 0)
    {
        string key = value.Trim().ToLowerInvariant();
        if (key == "cpu") return TrainerDevice.Cpu;
        if (key == "cuda") return TrainerDevice.Cuda(localRank % Math.Max(1, CudaLibrary.Availability.DeviceCount));
        if (key.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(key[5..], out int ordinal) && ordinal >= 0)
            return TrainerDevice.Cuda(ordinal);
        if (key == "auto") return Auto(command, localRank);
        throw new EngineException($"{command}: --device '{value}' must be auto, cpu, cuda or cuda:N");
    }

    /// <summary>For a command that computes on the CPU only: auto and cpu pass, a GPU is refused saying
    /// <paramref name="why"/>.</summary>
    /// <exception cref="EngineException">a GPU or unknown device.</exception>
    public void RequireCpu(ParseResult parse, string command, string why)
    {
        string value = parse.GetValue(Option)!;
        string key = value.Trim().ToLowerInvariant();
        if (key is "cpu" or "auto") return;
        if (key.StartsWith("cuda", StringComparison.Ordinal))
            throw new EngineException($"{command}: --device {value}: {command} computes on the CPU only ({why}); use --device cpu or auto");
        throw new EngineException($"{command}: --device '{value}' must be auto or cpu");
    }

    private static TrainerDevice Auto(string command, int localRank)
    {
        var availability = CudaLibrary.Availability;
        if (!availability.IsAvailable || availability.DeviceCount == 0) return TrainerDevice.Cpu;
        var gpu = TrainerDevice.Cuda(localRank % availability.DeviceCount);
        try
        {
            using var probe = gpu.CreateContext(0);
        }
        catch (NativeTrainerException e)
        {
            Console.Error.WriteLine($"engine {command}: --device auto: computing on the CPU ({e.Message})");
            return TrainerDevice.Cpu;
        }
        Console.Error.WriteLine($"engine {command}: --device auto: computing on {gpu}");
        return gpu;
    }
}
