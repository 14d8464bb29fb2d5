using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Engine.Cli.Commands;
using Engine.Core;
using Engine.Merge;
using Engine.Pipeline;
using Engine.Merge.Execution;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Cli;

/// <summary>The <c>engine</c> command: a generic host with the engine's services, and one System.CommandLine
/// verb per job. Every <see cref="EngineException"/>, and every command-line parse error, becomes one line on stderr
/// and a non-zero exit code.</summary>
public static partial class EngineCli
{
    /// <summary>Exit code for bad input (files, configs, options).</summary>
    public const int ExitInputError = 1;

    /// <summary>Exit code for an internal error (a bug).</summary>
    public const int ExitInternalError = 70;

    /// <summary>Exit code for a run stopped by Ctrl+C.</summary>
    public const int ExitCancelled = 130;

    public static async Task<int> RunAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = Array.Empty<string>(), DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        // The merge command prints config warnings itself, in the one-line "engine: warning:" style.
        builder.Logging.AddFilter(typeof(MergeExecutor).FullName, LogLevel.Error);
        builder.Logging.SetMinimumLevel(Environment.GetEnvironmentVariable("ENGINE_LOG_LEVEL") is { } level && Enum.TryParse<LogLevel>(level, true, out var l) ? l : LogLevel.Warning);
        builder.Services.AddEngine();
        using var host = builder.Build();

        // Tables piped to a file or another program keep their rows on one line each.
        if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 200;
        var root = new RootCommand("Engine: Branch-Merge distillation. SFT domain experts, fuse them with exact Arcee Fusion.");
        root.Subcommands.Add(InspectCommand.Create(host.Services));
        root.Subcommands.Add(MergeCommand.Create(host.Services));
        root.Subcommands.Add(DemoCommand.Create(host.Services));
        root.Subcommands.Add(BenchCommand.Create(host.Services));
        root.Subcommands.Add(MethodsCommand.Create(host.Services));
        root.Subcommands.Add(SelftestCommand.Create());
        root.Subcommands.Add(LossCommand.Create(host.Services));
        root.Subcommands.Add(SftCommand.Create(host.Services));
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(EvalCommand.Create(host.Services));
        root.Subcommands.Add(PipelineCommand.Create(host.Services));
        var parse = root.Parse(args);
        // System.CommandLine's own error action prints each error and then the verb's whole help; the house rule is
        // one line. --help (and other actions that clear parse errors) never reach here as errors.
        if (parse.Action is ParseErrorAction) return Report(new EngineException(ParseErrorLine(parse)), "");
        return await parse.InvokeAsync();
    }

    /// <summary>The parse errors of a command line as one line: every error (a missing required option names it, a
    /// value that does not parse names the option and the value), and where to read the verb's options.</summary>
    public static string ParseErrorLine(ParseResult parse)
    {
        var errors = parse.Errors.Select(e => LowerFirst(ClrTypeName().Replace(e.Message.Trim().TrimEnd('.'), m => FriendlyType(m.Groups[1].Value))))
            .Distinct().ToList();
        var verbs = new List<string>();
        for (var r = parse.CommandResult; r.Parent is CommandResult parent; r = parent) verbs.Insert(0, r.Command.Name);
        string command = string.Join(' ', ["engine", .. verbs]);
        return $"{string.Join("; ", errors)} ({command} --help lists the options)";
    }

    /// <summary>The parser's sentences ("Option '--out' is required") read as the house's clauses after "error: ".</summary>
    private static string LowerFirst(string message) =>
        message.Length > 1 && char.IsUpper(message[0]) && !char.IsUpper(message[1]) ? char.ToLowerInvariant(message[0]) + message[1..] : message;

    /// <summary>A value that does not parse is reported with the CLR type it was to be ('System.Int32'); a user reads
    /// the C# keyword better.</summary>
    private static string FriendlyType(string clrName) => clrName switch
    {
        "Int32" => "'int'",
        "Int64" => "'long'",
        "Single" => "'float'",
        "Double" => "'double'",
        "Boolean" => "'bool'",
        "String" => "'string'",
        _ => $"'System.{clrName}'",
    };

    [GeneratedRegex(@"'System\.(\w+)'")]
    private static partial Regex ClrTypeName();

    /// <summary>Runs a verb's body with the house error policy: one line on stderr, no stack trace.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (IsReported(e))
        {
            return Report(e, "");
        }
    }

    /// <summary>Whether <see cref="Report"/> handles the exception (everything but a bug under ENGINE_DEBUG=1,
    /// which keeps its stack trace).</summary>
    public static bool IsReported(Exception e) =>
        e is OperationCanceledException or EngineException or IOException or UnauthorizedAccessException or DllNotFoundException
        || Environment.GetEnvironmentVariable("ENGINE_DEBUG") is null;

    /// <summary>Writes the one stderr line for <paramref name="e"/> (after <paramref name="where"/>, such as the
    /// rank of a distributed run) and returns its exit code.</summary>
    public static int Report(Exception e, string where)
    {
        string at = where.Length > 0 ? where + ": " : "";
        switch (e)
        {
            case OperationCanceledException:
                Console.Error.WriteLine($"engine: {at}cancelled; nothing was written");
                return ExitCancelled;
            // A native library that is missing or refused (ENG_NATIVE_ISA) is the installation's or the environment's
            // problem, not a bug.
            case EngineException or IOException or UnauthorizedAccessException or DllNotFoundException:
                Console.Error.WriteLine($"engine: error: {at}{e.Message}");
                return ExitInputError;
            default:
                // A bug, not bad input: still one line; ENGINE_DEBUG=1 shows the stack trace.
                Console.Error.WriteLine($"engine: internal error: {at}{e.GetType().Name}: {e.Message.Split('\n')[0]} (set ENGINE_DEBUG=1 for details)");
                return ExitInternalError;
        }
    }
}
