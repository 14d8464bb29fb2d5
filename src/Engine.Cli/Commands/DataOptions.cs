using System.CommandLine;
using Engine.Training.Data;
using Engine.Training.Templates;

namespace Engine.Cli.Commands;

/// <summary>The data options <c>engine sft</c>, <c>engine loss</c>, <c>engine eval</c> and <c>engine tokenize</c> share, and loading the file they name with
/// the model's tokenizer (<see cref="SftDataset"/>). Skipped rows and the tokenizer used go to stderr (unless quiet:
/// the ranks of a distributed run other than rank 0).</summary>
internal sealed class DataOptions
{
    public Option<string> Data { get; } = new("--data")
    {
        Description = "JSONL, one row per line in any of these formats: alpaca (instruction, input, output, system), sharegpt (conversations), "
            + "messages (role/content), or pre-tokenized (input_ids, optional labels, -100 = no loss). Text rows use the model's tokenizer.json "
            + "(byte-level if it has none) and --template; loss falls on assistant turns only",
        Required = true,
    };

    public Option<string> Template { get; } = new("--template")
    {
        Description = $"chat template for text rows: {string.Join(" | ", ChatTemplates.Names)} (ChatML)",
        DefaultValueFactory = _ => "qwen",
    };

    public Option<string?> System { get; } = new("--system")
    {
        Description = "system prompt for text rows without one (default: the template's; \"\" = no system block)",
    };

    public Option<bool> SkipBadRows { get; } = new("--skip-bad-rows")
    {
        Description = "skip rows that break the format (counted on stderr) instead of failing",
    };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Data, Template, System, SkipBadRows }) command.Options.Add(option);
    }

    public IReadOnlyList<TokenizedExample> Load(ParseResult parse, string modelPath, string commandName, bool quiet = false) =>
        LoadDataset(parse, modelPath, commandName, quiet).Examples;

    /// <summary>The examples with the tokenizer that made them and each example's conversation (see <see cref="LoadedDataset"/>).</summary>
    public LoadedDataset LoadDataset(ParseResult parse, string modelPath, string commandName, bool quiet = false)
    {
        string path = parse.GetValue(Data)!;
        var options = new DatasetOptions(ChatTemplates.Parse(parse.GetValue(Template)!), parse.GetValue(System), parse.GetValue(SkipBadRows));
        var dataset = SftDataset.Load(path, modelPath, options);
        if (quiet) return dataset;
        if (dataset.Tokenizer != null) Console.Error.WriteLine($"engine {commandName}: tokenizer {dataset.Tokenizer.Description}");
        if (dataset.SkippedRows > 0) Console.Error.WriteLine($"engine {commandName}: skipped {dataset.SkippedRows} bad row(s) of {path}");
        return dataset;
    }
}
