using System.Collections;
using System.Globalization;
using System.Text;

namespace Engine.Training.Tokenization;

/// <summary>Unicode Normalization Form C (UAX #15), for tokenizers whose <c>tokenizer.json</c> asks for NFC (Qwen2,
/// Qwen3). <see cref="string.Normalize()"/> cannot be used: the engine runs with invariant globalization, where it
/// returns its input unchanged. Canonical decomposition (Hangul algorithmically), canonical ordering by combining
/// class, then canonical composition, on the tables of <c>UnicodeNfcData.txt</c> (made by <c>make_nfc_data.py</c>
/// from Python's Unicode 14 data; characters encoded after that version are left as they are). Unpaired surrogates
/// become U+FFFD, as they do when Hugging Face tokenizers receive the text as UTF-8.</summary>
public static class UnicodeNfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Tables Data = Tables.Load();

    /// <summary>The NFC form of <paramref name="text"/>; the same instance when it is already NFC by the quick check.</summary>
    public static string Normalize(string text)
    {
        if (IsQuickNfc(text)) return text;
        var points = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, points);
        Reorder(points);
        int length = Compose(points);
        var result = new StringBuilder(length + 8);
        for (int i = 0; i < length; i++) result.Append(char.ConvertFromUtf32(points[i]));
        return result.ToString();
    }

    /// <summary>True when no character could change: none decomposes, has a non-zero combining class, composes with
    /// what precedes it, or is a surrogate (those take the full path, which also repairs unpaired ones).</summary>
    private static bool IsQuickNfc(string text)
    {
        foreach (char c in text)
            if (c >= 0x300 && Data.MaybeChanges[c]) return false;
        return true;
    }

    private static void Decompose(int cp, List<int> into)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int s = cp - SBase;
            into.Add(LBase + s / NCount);
            into.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) into.Add(TBase + s % TCount);
        }
        else if (Data.Decompositions.TryGetValue(cp, out var parts))
        {
            foreach (int p in parts) Decompose(p, into);
        }
        else
        {
            into.Add(cp);
        }
    }

    /// <summary>Sorts each run of non-starters by combining class, stably (insertion sort: runs are short).</summary>
    private static void Reorder(List<int> points)
    {
        for (int i = 1; i < points.Count; i++)
        {
            int cp = points[i], cls = CombiningClass(cp);
            if (cls == 0) continue;
            int j = i;
            while (j > 0 && CombiningClass(points[j - 1]) > cls)
            {
                points[j] = points[j - 1];
                j--;
            }
            points[j] = cp;
        }
    }

    /// <summary>Composes in place, as UAX #15's sample code does; returns the new length. A character joins the last
    /// starter unless a character between them has a class equal to or above its own (it is blocked).</summary>
    private static int Compose(List<int> points)
    {
        if (points.Count == 0) return 0;
        int starterPos = 0, starter = points[0];
        // A leading non-starter has no starter to join: treat it as blocking everything after it.
        int lastClass = CombiningClass(starter) == 0 ? 0 : 256;
        int target = 1;
        for (int i = 1; i < points.Count; i++)
        {
            int cp = points[i], cls = CombiningClass(cp);
            if ((lastClass < cls || lastClass == 0) && TryCompose(starter, cp, out int composite))
            {
                points[starterPos] = starter = composite;
                continue;
            }
            if (cls == 0)
            {
                starterPos = target;
                starter = cp;
            }
            lastClass = cls;
            points[target++] = cp;
        }
        return target;
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((first - LBase) * VCount + second - VBase) * TCount;
            return true;
        }
        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
        {
            composite = first + second - TBase;
            return true;
        }
        return Data.Composites.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static int CombiningClass(int cp) => Data.Classes.TryGetValue(cp, out byte cls) ? cls : 0;

    /// <summary>The parsed <c>UnicodeNfcData.txt</c>; read once, never changed.</summary>
    private sealed class Tables
    {
        public Dictionary<int, byte> Classes { get; } = [];
        public Dictionary<int, int[]> Decompositions { get; } = [];
        public Dictionary<long, int> Composites { get; } = [];

        /// <summary>BMP characters that can change under NFC (see <see cref="IsQuickNfc"/>).</summary>
        public BitArray MaybeChanges { get; } = new(0x10000);

        public static Tables Load()
        {
            var tables = new Tables();
            using var stream = typeof(UnicodeNfc).Assembly.GetManifestResourceStream("Engine.Training.Tokenization.UnicodeNfcData.txt")
                ?? throw new InvalidOperationException("the NFC tables are not embedded in Engine.Training");
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                if (line.Length == 0 || line[0] == '#') continue;
                string[] f = line.Split(' ');
                switch (f[0])
                {
                    case "c":
                        byte cls = byte.Parse(f[3], CultureInfo.InvariantCulture);
                        for (int cp = Hex(f[1]); cp <= Hex(f[2]); cp++) tables.Classes[cp] = cls;
                        tables.Mark(Hex(f[1]), Hex(f[2]));
                        break;
                    case "d":
                        tables.Decompositions[Hex(f[1])] = f[2..].Select(Hex).ToArray();
                        tables.Mark(Hex(f[1]), Hex(f[1]));
                        break;
                    case "p":
                        tables.Composites[((long)Hex(f[1]) << 21) | (uint)Hex(f[2])] = Hex(f[3]);
                        tables.Mark(Hex(f[2]), Hex(f[2]));
                        break;
                }
            }
            tables.Mark(SBase, SBase + SCount - 1);
            tables.Mark(VBase, VBase + VCount - 1);
            tables.Mark(TBase + 1, TBase + TCount - 1);
            tables.Mark(0xD800, 0xDFFF);
            return tables;
        }

        private static int Hex(string field) => int.Parse(field, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        private void Mark(int first, int last)
        {
            for (int cp = first; cp <= last && cp < 0x10000; cp++) MaybeChanges[cp] = true;
        }
    }
}
