namespace Engine.Pipeline.Recipes;

/// <summary>A merge order in the short form: <c>a &amp; b</c> fuses <c>a</c> into <c>b</c> (<c>b</c> is the base,
/// as in TinyR1's "math into science"); <c>&amp;</c> groups from the left, parentheses group explicitly. So
/// <c>(math &amp; science) &amp; coding</c> is stage 1 <c>base = science, other = math</c>, stage 2
/// <c>base = coding, other = stage 1</c>, TinyR1's order.</summary>
public abstract record MergeOrder
{
    /// <summary>The domains named, left to right.</summary>
    public abstract IEnumerable<string> Domains { get; }

    /// <summary>One domain's expert.</summary>
    public sealed record Leaf(string Domain) : MergeOrder
    {
        /// <inheritdoc/>
        public override IEnumerable<string> Domains => [Domain];

        /// <summary>The domain name, as written in the short form.</summary>
        public override string ToString() => Domain;
    }

    /// <summary><see cref="Other"/> fused into <see cref="Base"/>.</summary>
    public sealed record Fuse(MergeOrder Other, MergeOrder Base) : MergeOrder
    {
        /// <inheritdoc/>
        public override IEnumerable<string> Domains => Other.Domains.Concat(Base.Domains);

        /// <summary>The short form with every group parenthesised, <c>(other &amp; base)</c>; <see cref="Parse"/> reads it back.</summary>
        public override string ToString() => $"({Other} & {Base})";

    }

    /// <summary>Parses <paramref name="text"/>; a syntax error is an <see cref="ArgumentException"/> saying where.</summary>
    public static MergeOrder Parse(string text)
    {
        int at = 0;
        var order = ParseChain(text, ref at);
        SkipSpace(text, ref at);
        if (at < text.Length) throw new ArgumentException($"unexpected '{text[at]}' at character {at + 1}");
        if (order is Leaf) throw new ArgumentException("an order needs at least two domains joined by '&'");
        return order;
    }

    private static MergeOrder ParseChain(string text, ref int at)
    {
        var left = ParseTerm(text, ref at);
        while (true)
        {
            SkipSpace(text, ref at);
            if (at >= text.Length || text[at] != '&') return left;
            at++;
            left = new Fuse(left, ParseTerm(text, ref at));
        }
    }

    private static MergeOrder ParseTerm(string text, ref int at)
    {
        SkipSpace(text, ref at);
        if (at >= text.Length) throw new ArgumentException("a domain name or '(' is missing at the end");
        if (text[at] == '(')
        {
            at++;
            var inner = ParseChain(text, ref at);
            SkipSpace(text, ref at);
            if (at >= text.Length || text[at] != ')') throw new ArgumentException($"')' expected at character {at + 1}");
            at++;
            return inner;
        }
        int start = at;
        while (at < text.Length && (char.IsLetterOrDigit(text[at]) || text[at] is '_' or '-' or '.')) at++;
        if (at == start) throw new ArgumentException($"a domain name or '(' expected at character {at + 1}, found '{text[at]}'");
        return new Leaf(text[start..at]);
    }

    private static void SkipSpace(string text, ref int at)
    {
        while (at < text.Length && char.IsWhiteSpace(text[at])) at++;
    }
}
