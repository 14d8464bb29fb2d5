using System.CommandLine;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench io|merge|kernels|sft|nccl</c>: throughput measured against a floor in the same run.</summary>
public static class BenchCommand
{
    public static Command Create(IServiceProvider services)
    {
        var command = new Command("bench", "measure throughput against the memory/I-O floor, in one run");
        command.Subcommands.Add(BenchIoCommand.Create());
        command.Subcommands.Add(BenchMergeCommand.Create(services));
        command.Subcommands.Add(BenchSftCommand.Create());
        command.Subcommands.Add(BenchKernelsCommand.Create());
        command.Subcommands.Add(BenchNcclCommand.Create());
        return command;
    }
}
