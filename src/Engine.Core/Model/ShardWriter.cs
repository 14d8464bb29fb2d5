using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Safetensors;
using Microsoft.Win32.SafeHandles;

namespace Engine.Core.Model;

/// <summary>Writes a Hugging Face model directory: safetensors shards of at most
/// <see cref="ShardWriterOptions.MaxShardBytes"/> (a tensor larger than that gets a shard of its own),
/// <c>model.safetensors.index.json</c> with <c>total_size</c> and <c>weight_map</c> when there is more than one
/// shard, and any side files (config, tokenizer). All tensors are declared up front so every header is
/// final before data arrives; tensor bytes may then be written in any order, from any thread, with
/// positional writes. Everything lands in an <see cref="AtomicDirectory"/>: <see cref="Commit"/> flushes
/// to disk and renames it into place, disposal without a commit leaves nothing at the target.</summary>
public sealed class ShardWriter : IDisposable
{
    private readonly AtomicDirectory _directory;
    private readonly List<Shard> _shards = new();
    private readonly Dictionary<string, (Shard Shard, TensorInfo Info)> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ByteRanges> _written = new(StringComparer.Ordinal);

    private sealed record Shard(string FileName, SafetensorsLayout Layout, SafeFileHandle Handle);

    private ShardWriter(AtomicDirectory directory) => _directory = directory;

    /// <summary>The directory the output appears at after <see cref="Commit"/>.</summary>
    public string TargetPath => _directory.TargetPath;

    /// <summary>Where the directory is built until <see cref="Commit"/>: other processes of a job (the ranks of a
    /// distributed run) may add files of their own there before the commit, flushed to disk by themselves.</summary>
    public string StagingPath => _directory.StagingPath;

    /// <summary>Total bytes of tensor data, the index's <c>total_size</c>.</summary>
    public long TotalSize { get; private set; }

    /// <summary>The shard file names, in order (<c>model-00001-of-00003.safetensors</c>, ...; <c>model.safetensors</c> alone).</summary>
    public IReadOnlyList<string> ShardFiles => _shards.Select(s => s.FileName).ToList();

    /// <summary>Starts writing <paramref name="tensors"/> (in this order, cut into shards by <see cref="ShardWriterOptions.MaxShardBytes"/>)
    /// into a staging sibling of <paramref name="target"/>.</summary>
    /// <exception cref="ArgumentException">Two tensors share a name.</exception>
    /// <exception cref="OutputException">The target exists without <see cref="ShardWriterOptions.Overwrite"/>, or the staging directory cannot be made.</exception>
    public static ShardWriter Create(string target, IReadOnlyList<TensorSpec> tensors, ShardWriterOptions options)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' declared twice", nameof(tensors));
        }
        var directory = AtomicDirectory.Create(target, options.Overwrite);
        var writer = new ShardWriter(directory);
        try
        {
            writer.CreateShards(PlanShards(tensors, options.MaxShardBytes));
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Greedy in declaration order, as transformers shards: a new shard starts when the next tensor
    /// would push the current one past the limit.</summary>
    internal static List<List<TensorSpec>> PlanShards(IReadOnlyList<TensorSpec> tensors, long maxShardBytes)
    {
        var shards = new List<List<TensorSpec>> { new() };
        long size = 0;
        foreach (var t in tensors)
        {
            if (shards[^1].Count > 0 && size + t.ByteLength > maxShardBytes)
            {
                shards.Add(new List<TensorSpec>());
                size = 0;
            }
            shards[^1].Add(t);
            size += t.ByteLength;
        }
        return shards;
    }

    private void CreateShards(List<List<TensorSpec>> plan)
    {
        for (int i = 0; i < plan.Count; i++)
        {
            string name = plan.Count == 1 ? "model.safetensors" : $"model-{i + 1:D5}-of-{plan.Count:D5}.safetensors";
            var layout = SafetensorsLayout.Create(plan[i], SafetensorsLayout.PtMetadata);
            var handle = OpenPreallocated(_directory.PathOf(name), layout.FileLength);
            var shard = new Shard(name, layout, handle);
            _shards.Add(shard);
            WriteAt(shard, layout.Prefix, 0);
            foreach (var t in layout.Tensors)
            {
                _tensors.Add(t.Name, (shard, t));
                _written.Add(t.Name, new ByteRanges());
                TotalSize += t.ByteLength;
            }
        }
    }

    private SafeFileHandle OpenPreallocated(string path, long length)
    {
        try
        {
            // Preallocation reserves the blocks now, so a full disk fails here instead of mid-write.
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None, length);
        }
        catch (IOException e)
        {
            throw new OutputException($"{TargetPath}: cannot create {Path.GetFileName(path)} ({length} bytes): {e.Message}", e);
        }
    }

    /// <summary>Writes bytes of tensor <paramref name="name"/> starting <paramref name="byteOffset"/> into it.
    /// Thread-safe; every byte of every tensor must be written exactly once before <see cref="Commit"/>.</summary>
    public void WriteTensor(string name, ReadOnlySpan<byte> data, long byteOffset = 0)
    {
        if (!_tensors.TryGetValue(name, out var entry)) throw new ArgumentException($"tensor '{name}' was not declared", nameof(name));
        if (byteOffset < 0 || byteOffset > entry.Info.ByteLength - data.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"write of {data.Length} bytes at {byteOffset} overruns tensor '{name}' ({entry.Info.ByteLength} bytes)");
        if (data.IsEmpty) return;
        var ranges = _written[name];
        // Claimed before writing, so two threads handed the same range fail loudly instead of racing.
        lock (ranges)
        {
            if (!ranges.TryAdd(byteOffset, byteOffset + data.Length))
                throw new ArgumentException($"write of {data.Length} bytes at {byteOffset} overlaps bytes of tensor '{name}' already written", nameof(byteOffset));
        }
        WriteAt(entry.Shard, data, entry.Shard.Layout.DataStart + entry.Info.DataBegin + byteOffset);
    }

    private void WriteAt(Shard shard, ReadOnlySpan<byte> data, long position)
    {
        try
        {
            RandomAccess.Write(shard.Handle, data, position);
        }
        catch (IOException e)
        {
            throw new OutputException($"{TargetPath}: writing {shard.FileName} failed: {e.Message}", e);
        }
    }

    /// <summary>Writes a side file (config.json, README.md, ...) into the output directory.</summary>
    public void WriteFile(string relativePath, ReadOnlySpan<byte> content)
    {
        using var stream = CreateFile(relativePath);
        try
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException e)
        {
            throw new OutputException($"{TargetPath}: writing {relativePath} failed: {e.Message}", e);
        }
    }

    /// <summary>Creates a side file to be written in pieces (one too large for a span); the caller writes it and
    /// flushes it to disk (<c>Flush(flushToDisk: true)</c>) before <see cref="Commit"/>.</summary>
    public FileStream CreateFile(string relativePath)
    {
        string path = _directory.PathOf(relativePath);
        string staging = Path.GetFullPath(_directory.StagingPath) + Path.DirectorySeparatorChar;
        if (!Path.GetFullPath(path).StartsWith(staging, StringComparison.Ordinal))
            throw new ArgumentException($"side file '{relativePath}' is not inside the output directory", nameof(relativePath));
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        }
        catch (IOException e)
        {
            throw new OutputException($"{TargetPath}: writing {relativePath} failed: {e.Message}", e);
        }
    }

    /// <summary>Copies a file from an input directory into the output directory.</summary>
    public void CopyFile(string sourcePath, string relativePath) => WriteFile(relativePath, File.ReadAllBytes(sourcePath));

    /// <summary>Checks every tensor was written in full, writes the index, flushes all files to disk and
    /// moves the directory into place.</summary>
    public void Commit()
    {
        foreach (var (name, info) in _tensors)
        {
            long written = _written[name].Covered;
            if (written != info.Info.ByteLength)
                throw new InvalidOperationException($"tensor '{name}' received {written} of {info.Info.ByteLength} bytes");
        }
        if (_shards.Count > 1) WriteFile(ModelDirectory.IndexFileName, BuildIndex());
        foreach (var shard in _shards)
        {
            try
            {
                // Preallocation reserves blocks without setting the length; a trailing empty tensor writes nothing.
                RandomAccess.SetLength(shard.Handle, shard.Layout.FileLength);
                using var stream = new FileStream(shard.Handle, FileAccess.ReadWrite);
                stream.Flush(flushToDisk: true);
            }
            catch (IOException e)
            {
                throw new OutputException($"{TargetPath}: flushing {shard.FileName} failed: {e.Message}", e);
            }
        }
        CloseShards();
        _directory.Commit();
    }

    private byte[] BuildIndex()
    {
        var weightMap = new JsonObject();
        foreach (var (name, entry) in _tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal)) weightMap[name] = entry.Shard.FileName;
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = TotalSize },
            ["weight_map"] = weightMap,
        };
        return JsonSerializer.SerializeToUtf8Bytes(index, new JsonSerializerOptions { WriteIndented = true });
    }

    private void CloseShards()
    {
        foreach (var shard in _shards) shard.Handle.Dispose();
    }

    /// <summary>Closes the shards; without a commit the staging directory is deleted and nothing appears at the target.</summary>
    public void Dispose()
    {
        CloseShards();
        _directory.Dispose();
    }
}

/// <summary>How <see cref="ShardWriter"/> lays out its output.</summary>
public sealed record ShardWriterOptions
{
    /// <summary>The default shard limit, 5 GB as transformers' <c>max_shard_size="5GB"</c>.</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>Checked options.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxShardBytes"/> is not positive.</exception>
    public ShardWriterOptions(long maxShardBytes = DefaultMaxShardBytes, bool overwrite = false)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "shard size must be positive");
        MaxShardBytes = maxShardBytes;
        Overwrite = overwrite;
    }

    /// <summary>The most tensor bytes in one shard; a larger single tensor gets a shard of its own.</summary>
    public long MaxShardBytes { get; }
    /// <summary>Replace an existing target at the commit.</summary>
    public bool Overwrite { get; }
}

/// <summary>The disjoint byte ranges of one tensor written so far, merged as they touch.</summary>
internal sealed class ByteRanges
{
    private readonly List<(long Begin, long End)> _ranges = new();

    /// <summary>Total bytes covered.</summary>
    public long Covered { get; private set; }

    /// <summary>Adds [begin, end); false (and nothing added) when it overlaps a range already added.</summary>
    public bool TryAdd(long begin, long end)
    {
        int i = _ranges.FindIndex(r => r.Begin >= begin);
        if (i < 0) i = _ranges.Count;
        if (i < _ranges.Count && _ranges[i].Begin < end) return false;
        if (i > 0 && _ranges[i - 1].End > begin) return false;
        bool joinsLeft = i > 0 && _ranges[i - 1].End == begin;
        bool joinsRight = i < _ranges.Count && _ranges[i].Begin == end;
        if (joinsLeft && joinsRight)
        {
            _ranges[i - 1] = (_ranges[i - 1].Begin, _ranges[i].End);
            _ranges.RemoveAt(i);
        }
        else if (joinsLeft) _ranges[i - 1] = (_ranges[i - 1].Begin, end);
        else if (joinsRight) _ranges[i] = (begin, _ranges[i].End);
        else _ranges.Insert(i, (begin, end));
        Covered += end - begin;
        return true;
    }
}
