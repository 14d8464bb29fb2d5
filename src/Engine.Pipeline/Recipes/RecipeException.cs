using Engine.Core;

namespace Engine.Pipeline.Recipes;

/// <summary>A recipe is malformed: the message names the file, the key and the problem.</summary>
public sealed class RecipeException : EngineException
{
    /// <summary>A recipe error; <paramref name="message"/> starts with the file and names the key.</summary>
    public RecipeException(string message) : base(message) { }

    /// <summary>A recipe error caused by <paramref name="inner"/> (an I/O or YAML error).</summary>
    public RecipeException(string message, Exception inner) : base(message, inner) { }

}
