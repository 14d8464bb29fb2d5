using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Engine.Merge.Config;

/// <summary>Bounds a YAML text before it is turned into a node tree: YamlDotNet's representation model builds
/// nested nodes recursively (a config nested 50,000 levels deep overflowed the stack and killed the process),
/// and aliases let a few hundred bytes stand for billions of nodes. The check walks the parser's event stream,
/// which keeps its own stack on the heap, so it is safe on any input.</summary>
internal static class YamlLimits
{
    /// <summary>Far above any merge config (a 64-layer gradient list is a few KB).</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>A merge config nests about six levels (document, models, entry, parameters, conditions, value).</summary>
    public const int MaxDepth = 64;

    /// <summary>Nodes the document stands for once every alias is expanded.</summary>
    public const long MaxExpandedNodes = 100_000;

    public static void Check(string path, string text)
    {
        if (text.Length > MaxBytes)
            throw new MergeConfigException($"{path}: config is {text.Length} characters, more than the {MaxBytes} a merge config may have");
        var parser = new Parser(new StringReader(text));
        var anchored = new Dictionary<AnchorName, long>();
        var open = new Stack<(AnchorName Anchor, long Start)>();
        long nodes = 0;
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case AnchorAlias alias:
                        nodes += anchored.TryGetValue(alias.Value, out long size) ? size : 1;
                        break;
                    case Scalar scalar:
                        nodes++;
                        if (!scalar.Anchor.IsEmpty) anchored[scalar.Anchor] = 1;
                        break;
                    case NodeEvent start and (MappingStart or SequenceStart):
                        nodes++;
                        open.Push((start.Anchor, nodes));
                        if (open.Count > MaxDepth)
                            throw new MergeConfigException($"{path}: line {start.Start.Line}: YAML nested more than {MaxDepth} levels deep");
                        break;
                    case MappingEnd or SequenceEnd:
                        var (anchor, begin) = open.Pop();
                        if (!anchor.IsEmpty) anchored[anchor] = nodes - begin + 1;
                        break;
                }
                if (nodes > MaxExpandedNodes)
                    throw new MergeConfigException($"{path}: line {parser.Current!.Start.Line}: YAML stands for more than {MaxExpandedNodes} nodes once its aliases are expanded");
            }
        }
        catch (Exception e) when (IsParseError(e))
        {
            throw InvalidYaml(path, e);
        }
    }

    /// <summary>Reads a YAML file (strict UTF-8); an unreadable file is a <see cref="MergeConfigException"/> naming it
    /// and <paramref name="what"/> it was to be.</summary>
    public static string ReadFile(string path, string what)
    {
        try
        {
            return Engine.Core.Text.StrictUtf8.ReadFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MergeConfigException($"{path}: cannot read {what}: {e.Message}", e);
        }
    }

    /// <summary>The node tree of <paramref name="text"/>, <see cref="Check">checked</see> first; malformed YAML is one
    /// <see cref="MergeConfigException"/> naming the file and the line.</summary>
    public static YamlDotNet.RepresentationModel.YamlStream Load(string path, string text)
    {
        Check(path, text);
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (Exception e) when (IsParseError(e))
        {
            throw InvalidYaml(path, e);
        }
        return stream;
    }

    /// <summary>YamlDotNet reports some malformed input (a bad tag URI, an event out of place) with framework
    /// exceptions instead of <see cref="YamlException"/>; found by fuzzing, all are the input's fault.</summary>
    public static bool IsParseError(Exception e) => e is YamlException or ArgumentException or InvalidOperationException;

    public static MergeConfigException InvalidYaml(string path, Exception e) => e is YamlException y
        ? new MergeConfigException($"{path}: invalid YAML at line {y.Start.Line}, column {y.Start.Column}: {OneLine(y.Message)}", e)
        : new MergeConfigException($"{path}: invalid YAML: {OneLine(e.Message)}", e);

    private static string OneLine(string message) => message.Split('\n')[0].Trim();
}
