using Engine.Core;

namespace Engine.Pipeline.Recipes;

/// <summary>A recipe is malformed: the message names the file, the key and the problem.</summary>
public sealed class RecipeException : EngineException
{
    public RecipeException(string message) : base(message) { }
    public RecipeException(string message, Exception inner) : base(message, inner) { }
}
