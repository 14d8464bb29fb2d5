using System.Text.Json;
using Engine.Core.Safetensors;

namespace Engine.Core.Model;

/// <summary>A tensor of a model and the shard that holds it.</summary>
public sealed record ModelTensor(TensorInfo Info, SafetensorsFile File)
{
    /// <summary>The tensor's name in the checkpoint.</summary>
    public string Name => Info.Name;
    /// <summary>Copies the tensor's bytes out of its shard (into <paramref name="scratch"/> when given).</summary>
    public TensorBytes Read(Numerics.ScratchArena? scratch = null) => File.Read(Info, scratch);
}

/// <summary>A Hugging Face model directory (or a single safetensors file) opened for reading: every shard
/// validated, the index checked against the shards, <c>config.json</c> read, and the other files
/// (tokenizer, generation config, ...) listed so they can be carried into an output.</summary>
public sealed class ModelDirectory : IDisposable
{
    /// <summary>The shard index of a sharded checkpoint.</summary>
    public const string IndexFileName = "model.safetensors.index.json";
    /// <summary>The token embedding, (vocab_size, hidden_size).</summary>
    public const string EmbeddingName = "model.embed_tokens.weight";
    /// <summary>The output head, (vocab_size, hidden_size); absent when tied to <see cref="EmbeddingName"/>.</summary>
    public const string LmHeadName = "lm_head.weight";

    private readonly List<SafetensorsFile> _files = new();
    private readonly Dictionary<string, ModelTensor> _tensors = new(StringComparer.Ordinal);

    private ModelDirectory(string path) => Path = path;

    /// <summary>The directory, or the file when a single safetensors file was opened.</summary>
    public string Path { get; }

    /// <summary>The parsed <c>config.json</c>; null when the directory has none (a bare safetensors file).</summary>
    public ModelConfig? Config { get; private set; }

    /// <summary>The safetensors files, in index order (one for an unsharded model).</summary>
    public IReadOnlyList<SafetensorsFile> Shards => _files;

    /// <summary>Tensors in shard order, then data order.</summary>
    public IReadOnlyList<ModelTensor> Tensors { get; private set; } = Array.Empty<ModelTensor>();

    /// <summary>Files other than weights, index and config: tokenizer and generation files to copy along.</summary>
    public IReadOnlyList<string> OtherFiles { get; private set; } = Array.Empty<string>();

    /// <summary>True when the checkpoint stores no <c>lm_head.weight</c> and the head is the embedding.</summary>
    public bool LmHeadTiedToEmbedding => !_tensors.ContainsKey(LmHeadName) && _tensors.ContainsKey(EmbeddingName) && (Config?.TieWordEmbeddings ?? true);

    /// <summary>Bytes of tensor data over every shard.</summary>
    public long TotalBytes => Tensors.Sum(t => t.Info.ByteLength);
    /// <summary>Elements over every tensor (the parameter count, lm_head counted only when stored).</summary>
    public long TotalElements => Tensors.Sum(t => t.Info.ElementCount);

    /// <summary>Opens a model directory or a single <c>.safetensors</c> file.</summary>
    public static ModelDirectory Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var model = new ModelDirectory(full);
        try
        {
            if (File.Exists(full)) model.OpenFile(full);
            else if (Directory.Exists(full)) model.OpenDirectory(full);
            else throw new ModelDirectoryException($"{path}: no such model directory or file");
            model.Tensors = model._files.SelectMany(f => f.Tensors.Select(t => model._tensors[t.Name])).ToList();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private void OpenFile(string file) => AddShard(SafetensorsFile.Open(file), null);

    private void OpenDirectory(string dir)
    {
        string configPath = System.IO.Path.Combine(dir, "config.json");
        if (File.Exists(configPath)) Config = ModelConfig.Load(configPath);
        string indexPath = System.IO.Path.Combine(dir, IndexFileName);
        string single = System.IO.Path.Combine(dir, "model.safetensors");
        if (File.Exists(indexPath)) OpenIndexed(dir, indexPath);
        else if (File.Exists(single)) AddShard(SafetensorsFile.Open(single), null);
        else
        {
            var files = Directory.GetFiles(dir, "*.safetensors").Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) throw new ModelDirectoryException($"{dir}: no model.safetensors, {IndexFileName} or *.safetensors file");
            foreach (var f in files) AddShard(SafetensorsFile.Open(f), null);
        }
        var weightFiles = new HashSet<string>(_files.Select(f => System.IO.Path.GetFileName(f.Path)), StringComparer.Ordinal) { IndexFileName, "config.json" };
        OtherFiles = Directory.GetFiles(dir)
            .Select(System.IO.Path.GetFileName)
            .Where(n => n != null && !weightFiles.Contains(n) && !n.StartsWith('.') && !n.EndsWith(".safetensors", StringComparison.Ordinal))
            .Select(n => n!)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private void OpenIndexed(string dir, string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(Text.StrictUtf8.ReadBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelDirectoryException($"{indexPath}: not a JSON object");
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelDirectoryException($"{indexPath}: no 'weight_map' object");
            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw new ModelDirectoryException($"{indexPath}: weight_map entry '{p.Name}' is not a file name");
                if (!weightMap.TryAdd(p.Name, p.Value.GetString()!)) throw new ModelDirectoryException($"{indexPath}: tensor '{p.Name}' is listed twice in weight_map");
            }
            if (weightMap.Count == 0) throw new ModelDirectoryException($"{indexPath}: weight_map lists no tensors");
        }
        catch (JsonException e)
        {
            throw new ModelDirectoryException($"{indexPath}: invalid JSON: {e.Message.Split('\n')[0]}", e);
        }
        foreach (var shardName in weightMap.Values.Distinct().Order(StringComparer.Ordinal))
        {
            if (shardName.Contains('/') || shardName.Contains('\\') || shardName.Contains(".."))
                throw new ModelDirectoryException($"{indexPath}: shard name '{shardName}' is not a plain file name");
            string shardPath = System.IO.Path.Combine(dir, shardName);
            if (!File.Exists(shardPath)) throw new ModelDirectoryException($"{indexPath}: shard '{shardName}' is missing");
            AddShard(SafetensorsFile.Open(shardPath), indexPath);
        }
        foreach (var (name, shardName) in weightMap)
        {
            if (!_tensors.TryGetValue(name, out var t)) throw new ModelDirectoryException($"{indexPath}: tensor '{name}' is listed in shard '{shardName}' but that shard does not hold it");
            if (System.IO.Path.GetFileName(t.File.Path) != shardName)
                throw new ModelDirectoryException($"{indexPath}: tensor '{name}' is listed in '{shardName}' but found in '{System.IO.Path.GetFileName(t.File.Path)}'");
        }
        // Loaders read only what the index lists, so a tensor it leaves out would silently vanish.
        foreach (var (name, t) in _tensors)
        {
            if (!weightMap.ContainsKey(name))
                throw new ModelDirectoryException($"{indexPath}: shard '{System.IO.Path.GetFileName(t.File.Path)}' holds tensor '{name}', which the weight_map does not list");
        }
    }

    private void AddShard(SafetensorsFile file, string? indexPath)
    {
        _files.Add(file);
        foreach (var t in file.Tensors)
        {
            if (_tensors.TryGetValue(t.Name, out var other))
                throw new ModelDirectoryException($"{indexPath ?? Path}: tensor '{t.Name}' appears in both {System.IO.Path.GetFileName(other.File.Path)} and {System.IO.Path.GetFileName(file.Path)}");
            _tensors.Add(t.Name, new ModelTensor(t, file));
        }
    }

    /// <summary>Looks a tensor up by name; <c>lm_head.weight</c> resolves to the embedding when tied.</summary>
    public bool TryGetTensor(string name, out ModelTensor tensor)
    {
        if (_tensors.TryGetValue(name, out tensor!)) return true;
        if (name == LmHeadName && LmHeadTiedToEmbedding) return _tensors.TryGetValue(EmbeddingName, out tensor!);
        return false;
    }

    /// <summary>The tensor named <paramref name="name"/> (a tied <c>lm_head.weight</c> resolves to the embedding).</summary>
    /// <exception cref="ModelDirectoryException">The model has no such tensor.</exception>
    public ModelTensor GetTensor(string name) =>
        TryGetTensor(name, out var t) ? t : throw new ModelDirectoryException($"{Path}: no tensor '{name}'");

    /// <summary>Whether a tensor of that name is stored (a tied lm_head is not).</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Closes every shard.</summary>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
