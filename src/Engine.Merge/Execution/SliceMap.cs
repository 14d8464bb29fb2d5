using System.Collections.Immutable;
using Engine.Core.Model;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>The tensors of a sliced stage, as mergekit plans them: the tensors before the decoder (embeddings,
/// other towers) merged over the first slice's sources, then each slice's layers in order, renumbered from 0,
/// each output layer merged from the same offset in every source's range with the gradient position
/// <c>i / (layers - 1)</c> within the slice (1 for a one-layer slice), then the tensors after the decoder (final
/// norm, head) merged over the last slice's sources. Non-layer tensors are at position 0.</summary>
public sealed class SliceMap
{
    private readonly Dictionary<string, TensorRecipe> _byName;

    private SliceMap(ImmutableArray<TensorRecipe> recipes, int layers)
    {
        Recipes = recipes;
        OutputLayers = layers;
        _byName = recipes.ToDictionary(r => r.Name, StringComparer.Ordinal);
    }

    /// <summary>Every output tensor, in output order.</summary>
    public ImmutableArray<TensorRecipe> Recipes { get; }

    /// <summary>Decoder layers of the output: the slices' lengths summed.</summary>
    public int OutputLayers { get; }

    /// <summary>The recipe of output tensor <paramref name="name"/>.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is not an output of the sliced stage.</exception>
    public TensorRecipe Get(string name) =>
        _byName.TryGetValue(name, out var r) ? r : throw new InvalidOperationException($"tensor '{name}' is not an output of the sliced stage");

    /// <summary>Plans a sliced document. <paramref name="resolve"/> turns a model reference into an input,
    /// <paramref name="namesOf"/> lists an input's tensors, <paramref name="layoutOf"/> gives its layout;
    /// <paramref name="primary"/> is the input whose non-layer tensors and config the output takes.</summary>
    public static SliceMap Create(string configPath, MergeDocument document, Func<string, InputRef> resolve,
        Func<InputRef, IReadOnlyList<string>> namesOf, Func<InputRef, ModelLayout> layoutOf, InputRef primary)
    {
        var recipes = ImmutableArray.CreateBuilder<TensorRecipe>();
        var primaryLayout = layoutOf(primary);
        var primaryNames = namesOf(primary);
        var outside = primaryNames.Where(n => primaryLayout.DecoderLayer(n) < 0).ToList();
        foreach (var name in outside.Where(ModelLayout.IsBeforeDecoder))
            recipes.Add(NonLayer(document, 0, name, resolve));

        int outputLayer = 0;
        for (int s = 0; s < document.Slices.Length; s++)
        {
            var slice = document.Slices[s];
            var sliced = document.ForSlice(s);
            var inputs = slice.Sources.Select(src => resolve(src.Model)).ToList();
            var layouts = inputs.Select(layoutOf).ToList();
            var layerNames = new List<ILookup<int, string>>();
            for (int i = 0; i < inputs.Count; i++)
            {
                var decoder = layouts[i].RequireDecoder();
                var src = slice.Sources[i];
                if (src.End > decoder.Count)
                    throw new MergeConfigException($"{configPath}: slice {s + 1}: layer_range [{src.Start}, {src.End}) of '{src.Model}' goes past its {decoder.Count} layers ({layouts[i].Architecture})");
                var layout = layouts[i];
                layerNames.Add(namesOf(inputs[i]).Select(n => (Layer: layout.DecoderLayer(n), Name: n)).Where(x => x.Layer >= 0).ToLookup(x => x.Layer, x => x.Name));
            }
            for (int offset = 0; offset < slice.Length; offset++, outputLayer++)
            {
                double t = slice.Length > 1 ? (double)offset / (slice.Length - 1) : 1;
                var firstNames = layerNames[0][slice.Sources[0].Start + offset].ToList();
                foreach (var firstName in firstNames)
                {
                    string rest = ModelLayout.Parse(firstName)!.Value.Suffix;
                    string outName = primaryLayout.DecoderTensor(outputLayer, rest);
                    var sources = slice.Sources.Select((src, i) => new RecipeInput(inputs[i], layouts[i].DecoderTensor(src.Start + offset, rest), src.Parameters)).ToList();
                    recipes.Add(Recipe(outName, sliced, sources, slice.Sources, t, s, outputLayer));
                }
            }
        }

        foreach (var name in outside.Where(n => !ModelLayout.IsBeforeDecoder(n)))
            recipes.Add(NonLayer(document, document.Slices.Length - 1, name, resolve));
        return new SliceMap(recipes.ToImmutable(), outputLayer);
    }

    private static TensorRecipe NonLayer(MergeDocument document, int slice, string name, Func<string, InputRef> resolve)
    {
        var sources = document.Slices[slice].Sources;
        var inputs = sources.Select(src => new RecipeInput(resolve(src.Model), name, src.Parameters)).ToList();
        return Recipe(name, document.ForSlice(slice), inputs, sources, 0, slice, -1);
    }

    /// <summary>The base is the source whose model is the slice's base (else the document's); the other sources
    /// follow in the order written.</summary>
    private static TensorRecipe Recipe(string name, MergeDocument sliced, List<RecipeInput> inputs, ImmutableArray<SliceSource> sources,
        double t, int slice, int layer)
    {
        int baseAt = sliced.BaseModel is { } b ? sources.Select(s => s.Model).ToList().IndexOf(b) : -1;
        var others = inputs.Where((_, i) => i != baseAt).ToImmutableArray();
        return new TensorRecipe(name, sliced, baseAt >= 0 ? inputs[baseAt] : null, others, t, slice, layer);
    }
}
