using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Methods;

namespace Engine.Merge.Execution;

/// <summary>The I/O floor of a merge, for benchmarks: reads every input element through the same reading,
/// converting path as a merge and writes the base (or the first model) through the same shard path, with no
/// merge math beyond a linear combination with weight 1 on the first input and 0 on the rest (one multiply-add
/// per input element, no scratch arrays).</summary>
internal sealed class IoFloorMethod : IMergeMethod
{
    public string Name => "io_floor";
    public string Formula => "merged = B (every input read and converted, output written)";
    public IReadOnlyList<MethodParameter> Parameters { get; } = Array.Empty<MethodParameter>();
    public bool RequiresBase => false;

    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
    }

    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var all = (inputs.Base is { } first ? [first] : Array.Empty<Core.Numerics.RawTensor>()).Concat(inputs.Others.Select(o => o.Tensor)).ToArray();
        var weights = new float[all.Length];
        weights[0] = 1;
        output.Fill((chunk, start) => kernels.LinearCombination(chunk, all.Select(t => t.Slice(start, chunk.Length)).ToArray(), weights, null), cancellation);
        return new JsonObject { ["elements"] = all[0].Length };
    }
}
