using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Merge.Methods;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine methods [--json]</c>: every merge method with its parameters (default, per-model or
/// global) and its one-line formula.</summary>
public static class MethodsCommand
{
    public static Command Create(IServiceProvider services)
    {
        var json = new Option<bool>("--json") { Description = "print a machine-readable JSON list on stdout" };
        var command = new Command("methods", "list the merge methods, their parameters and formulas") { json };
        command.SetAction(parse => EngineCli.Guard(() =>
        {
            if (parse.GetValue(json)) Console.Out.WriteLine(Report().ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            else Print();
            return Task.FromResult(0);
        }));
        return command;
    }

    public static JsonArray Report() => new(MergeMethodRegistry.All.Select(m => (JsonNode)new JsonObject
    {
        ["name"] = m.Name,
        ["requires_base"] = m.RequiresBase,
        ["formula"] = m.Formula,
        ["parameters"] = new JsonArray(m.Parameters.Select(p => (JsonNode)new JsonObject
        {
            ["name"] = p.Name,
            ["scope"] = p.PerModel ? "per_model" : "global",
            ["default"] = p.Default switch
            {
                null => null,
                bool b => b,
                double d => d,
                var o => o.ToString(),
            },
            ["required"] = p.Required,
            ["description"] = p.Description,
        }).ToArray()),
    }).ToArray());

    private static void Print()
    {
        var table = new Table().AddColumns("method", "base", "parameters (default; per-model marked *)", "formula");
        foreach (var m in MergeMethodRegistry.All)
        {
            var parameters = string.Join("\n", m.Parameters.Select(p => $"{p.Name}{(p.PerModel ? "*" : "")} = {(p.Required ? "required" : Format(p.Default))}"));
            table.AddRow(m.Name, m.RequiresBase ? "required" : "optional", Markup.Escape(parameters), Markup.Escape(m.Formula));
        }
        AnsiConsole.Write(table);
    }

    private static string Format(object? value) => value switch
    {
        null => "-",
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        var o => o.ToString() ?? "-",
    };
}
