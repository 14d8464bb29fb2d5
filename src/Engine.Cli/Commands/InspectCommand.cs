using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine inspect PATH [--json]</c>: every tensor of a model directory or safetensors file,
/// totals and a config summary; opening the model validates every header and the index.</summary>
public static class InspectCommand
{
    public static Command Create(IServiceProvider services)
    {
        var path = new Argument<string>("path") { Description = "model directory or .safetensors file" };
        var json = new Option<bool>("--json") { Description = "print a machine-readable JSON report on stdout" };
        var command = new Command("inspect", "list and validate the tensors of a checkpoint") { path, json };
        command.SetAction(parse => EngineCli.Guard(() =>
        {
            using var model = ModelDirectory.Open(parse.GetValue(path)!);
            if (parse.GetValue(json)) Console.Out.WriteLine(Report(model).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Print(model);
            return Task.FromResult(0);
        }));
        return command;
    }

    public static JsonObject Report(ModelDirectory model)
    {
        var tensors = new JsonArray();
        foreach (var t in model.Tensors)
        {
            tensors.Add(new JsonObject
            {
                ["name"] = t.Name,
                ["dtype"] = t.Info.DType.SafetensorsName(),
                ["shape"] = new JsonArray(t.Info.Shape.Select(d => (JsonNode)d).ToArray()),
                ["bytes"] = t.Info.ByteLength,
                ["shard"] = Path.GetFileName(t.File.Path),
            });
        }
        var c = model.Config;
        return new JsonObject
        {
            ["path"] = model.Path,
            ["shards"] = model.Shards.Count,
            ["tensors"] = model.Tensors.Count,
            ["elements"] = model.TotalElements,
            ["bytes"] = model.TotalBytes,
            ["lm_head_tied"] = model.LmHeadTiedToEmbedding,
            ["config"] = c == null ? null : new JsonObject
            {
                ["architecture"] = c.Architecture,
                ["model_type"] = c.ModelType,
                ["hidden_size"] = c.HiddenSize,
                ["intermediate_size"] = c.IntermediateSize,
                ["num_hidden_layers"] = c.NumHiddenLayers,
                ["num_attention_heads"] = c.NumAttentionHeads,
                ["num_key_value_heads"] = c.NumKeyValueHeads,
                ["vocab_size"] = c.VocabSize,
                ["tie_word_embeddings"] = c.TieWordEmbeddings,
                ["torch_dtype"] = c.TorchDType?.TorchName(),
            },
            ["other_files"] = new JsonArray(model.OtherFiles.Select(f => (JsonNode)f).ToArray()),
            ["tensor_list"] = tensors,
        };
    }

    private static void Print(ModelDirectory model)
    {
        var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes", "shard");
        foreach (var t in model.Tensors)
            table.AddRow(Markup.Escape(t.Name), t.Info.DType.SafetensorsName(), Markup.Escape(t.Info.ShapeText), t.Info.ByteLength.ToString("N0"), Markup.Escape(Path.GetFileName(t.File.Path)));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[bold]{model.Tensors.Count}[/] tensors, {model.TotalElements:N0} elements, {model.TotalBytes:N0} bytes in {model.Shards.Count} shard(s)");
        if (model.Config is { } c)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"config: {c.Architecture ?? c.ModelType ?? "?"}, hidden {c.HiddenSize}, intermediate {c.IntermediateSize}, layers {c.NumHiddenLayers}, heads {c.NumAttentionHeads}/{c.NumKeyValueHeads} kv, vocab {c.VocabSize}, tied embeddings {c.TieWordEmbeddings}, dtype {c.TorchDType?.TorchName() ?? "?"}"));
        }
        if (model.OtherFiles.Count > 0) AnsiConsole.MarkupLine(Markup.Escape("other files: " + string.Join(", ", model.OtherFiles)));
    }
}
