using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>A parameter a merge method takes, as <c>engine methods</c> lists it.</summary>
/// <param name="Name">The key in the config.</param>
/// <param name="Default">The value used when the config does not give it (null: none).</param>
/// <param name="PerModel">True when given under a model's <c>parameters</c> (mergekit falls back to the
/// merge's <c>parameters</c>), false for the merge's.</param>
/// <param name="Description">One line for <c>engine methods</c>.</param>
/// <param name="Required">True when the config must give it.</param>
/// <param name="Min">The smallest value the config may give (null: no bound); a smaller one is a config error.</param>
/// <param name="Max">The largest value the config may give (null: no bound); a larger one is a config error.</param>
public sealed record MethodParameter(string Name, object? Default, bool PerModel, string Description, bool Required = false,
    double? Min = null, double? Max = null);

/// <summary>One merge method with mergekit's name and semantics.</summary>
public interface IMergeMethod
{
    /// <summary>The <c>merge_method</c> name.</summary>
    string Name { get; }

    /// <summary>One-line formula for <c>engine methods</c>.</summary>
    string Formula { get; }

    /// <summary>The parameters the method reads, as <c>engine methods</c> lists them; <c>Validate</c> warns about others.</summary>
    IReadOnlyList<MethodParameter> Parameters { get; }

    /// <summary>True when the method needs <c>base_model</c>.</summary>
    bool RequiresBase { get; }

    /// <summary>Checks document-level rules (model count, parameter names); adds warnings for what it ignores.</summary>
    void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings);

    /// <summary>Merges one tensor and writes the result through <paramref name="output"/>; returns the
    /// per-tensor statistics the report carries.</summary>
    JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation);
}

/// <summary>The inputs of one tensor's merge within one stage. Tensors are flat, row-major, all of
/// <see cref="Shape"/> (already truncated to common rows where vocab sizes differ).</summary>
public sealed record TensorMergeInputs(
    string TensorName,
    ImmutableArray<long> Shape,
    RawTensor? Base,
    ImmutableArray<(RawTensor Tensor, ParameterSet Parameters)> Others,
    MergeDocument Document,
    double LayerPosition)
{
    /// <summary>The executing worker's reusable scratch, when it has one.</summary>
    public ScratchArena? Scratch { get; init; }

    /// <summary>In a batch: the steps this merge shares with other jobs' merges of the same tensor.</summary>
    internal SharedSteps? Shared { get; init; }

    /// <summary>In a batch: Arcee Fusion's key for sharing its lambda-independent step (null: not shared).</summary>
    internal string? ImportanceKey { get; init; }

    /// <summary>A float32 array of <paramref name="length"/> elements (contents undefined) from <see cref="Scratch"/>
    /// when there is one, else freshly allocated; dispose it when done.</summary>
    public NativeArray<float> RentFloats(long length) => Scratch?.RentFloats(length) ?? new NativeArray<float>(length);

    /// <summary>Length of the last dimension (1 for a scalar): Arcee Fusion's row.</summary>
    public int RowLength => Shape.Length == 0 ? 1 : checked((int)Shape[^1]);

    /// <summary>A merge-level parameter evaluated for this tensor, or <paramref name="fallback"/>.</summary>
    public double GetDouble(string name, double fallback) => ToDouble(Document.Parameters.Evaluate(name, TensorName, LayerPosition), name, fallback);

    /// <summary>A merge-level switch evaluated for this tensor (<c>true</c>/<c>false</c> or a number, non-zero
    /// meaning true), or <paramref name="fallback"/>.</summary>
    public bool GetBool(string name, bool fallback) => GetDouble(name, fallback ? 1 : 0) != 0;

    /// <summary>The parameters of the base model's entry in <c>models</c> (empty when the base is not listed,
    /// as mergekit adds it then with none).</summary>
    public ParameterSet BaseParameters =>
        Document.Models.FirstOrDefault(m => m.Model == Document.BaseModel)?.Parameters ?? ParameterSet.Empty;

    /// <summary>A per-model parameter for this tensor, looked up as mergekit does: the model's own
    /// <c>parameters</c>, then the merge's <c>parameters</c>, then <paramref name="fallback"/>; a missing
    /// parameter without fallback is a <see cref="MergeConfigException"/> naming the model and the tensor.
    /// <c>model</c> indexes <see cref="Others"/>.</summary>
    public double GetModelDouble(int model, string name, double? fallback) =>
        GetDouble(Others[model].Parameters, $"model {model + 1} besides the base", name, fallback);

    /// <summary><see cref="GetModelDouble"/> for the base model's entry.</summary>
    public double GetBaseDouble(string name, double? fallback) => GetDouble(BaseParameters, $"base model '{Document.BaseModel}'", name, fallback);

    private double GetDouble(ParameterSet parameters, string who, string name, double? fallback)
    {
        var value = parameters.Evaluate(name, TensorName, LayerPosition) ?? Document.Parameters.Evaluate(name, TensorName, LayerPosition);
        if (value is null && fallback is null)
            throw new MergeConfigException($"{Document.Method}: {who} has no '{name}' for tensor '{TensorName}' (set it under the model's parameters or the merge's)");
        return ToDouble(value, name, fallback ?? 0);
    }

    private double ToDouble(object? value, string name, double fallback) => value switch
    {
        null => fallback,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new MergeConfigException($"parameter '{name}' for tensor '{TensorName}' is '{value}', not a number"),
    };
}
