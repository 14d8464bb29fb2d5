using System.CommandLine;
using Engine.Core;
using Engine.Interop.Cuda;

namespace Engine.Cli.Commands;

/// <summary><c>--device</c> of the commands that run the native trainer (sft, loss, bench sft). The trainer
/// computes on the CPU only for now, so <c>auto</c> and <c>cpu</c> run there (auto says so when a GPU is
/// present), and a GPU device is refused by name instead of being silently ignored.</summary>
public sealed class TrainerDeviceOption
{
    public Option<string> Option { get; } = new("--device")
    {
        Description = "auto | cpu: the native trainer computes on the CPU (it has no GPU path yet, so auto is cpu)",
        DefaultValueFactory = _ => "auto",
    };

    public void AddTo(Command command) => command.Options.Add(Option);

    /// <summary>Checks the value (the run computes on the CPU either way).</summary>
    /// <exception cref="EngineException">a GPU or unknown device.</exception>
    public void Check(ParseResult parse, string command)
    {
        string value = parse.GetValue(Option)!;
        string key = value.Trim().ToLowerInvariant();
        if (key == "cpu") return;
        if (key == "auto")
        {
            if (CudaLibrary.Availability.IsAvailable)
                Console.Error.WriteLine($"engine {command}: --device auto: computing on the CPU (the native trainer has no GPU path yet)");
            return;
        }
        if (key.StartsWith("cuda") || key.StartsWith("ilgpu"))
            throw new EngineException($"{command}: --device {value}: the native trainer has no GPU path yet; use --device cpu or auto");
        throw new EngineException($"{command}: --device '{value}' must be auto or cpu");
    }
}
