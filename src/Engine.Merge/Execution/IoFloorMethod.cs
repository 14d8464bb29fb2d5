using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Methods;

namespace Engine.Merge.Execution;

/// <summary>The I/O floor of a merge, for benchmarks: reads every input element through the same mapped,
/// converting path as a merge and writes the base through the same shard path, with no merge math
/// (a masked select whose threshold nothing reaches).</summary>
public sealed class IoFloorMethod : IMergeMethod
{
    public string Name => "io_floor";
    public string Formula => "merged = B (every input read and converted, output written)";
    public IReadOnlyList<MethodParameter> Parameters { get; } = Array.Empty<MethodParameter>();
    public bool RequiresBase => true;

    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
    }

    public unsafe JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        var p = inputs.Others[0].Tensor;
        using var never = new Core.Numerics.NativeArray<float>(Math.Max(1, b.Length));
        System.Runtime.InteropServices.NativeMemory.Clear(never.Pointer, (nuint)never.ByteLength);
        output.Fill((chunk, start) =>
            kernels.MaskedSelect(chunk, p.Slice(start, chunk.Length), b.Slice(start, chunk.Length), never, start, float.PositiveInfinity), cancellation);
        return new JsonObject { ["elements"] = b.Length };
    }
}
