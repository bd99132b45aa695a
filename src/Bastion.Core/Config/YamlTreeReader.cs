using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Bastion.Config;

/// <summary>
/// Turns YAML text into a <see cref="YamlNode"/> tree through YamlDotNet's event parser (the deserializer
/// can neither see duplicate keys nor report every error with its position).
/// Refuses what would make positions or meaning ambiguous: anchors and aliases, tags, several documents.
/// </summary>
internal static class YamlTreeReader
{
    // Far deeper than the schema goes; stops a pathological file from exhausting the stack.
    private const int MaxDepth = 64;

    /// <summary>
    /// Reads the single document. Returns the root, or null when the file holds no document (empty, only
    /// comments). When anything is reported to <paramref name="errors"/>, the tree must not be bound.
    /// </summary>
    public static YamlNode? Read(string text, ConfigErrorList errors)
    {
        var refusals = new ConfigErrorList(errors.File);
        var reader = new Reader(new Parser(new StringReader(text)), refusals);
        try
        {
            var root = reader.ReadStream();
            errors.AddRange(refusals);
            return root;
        }
        catch (YamlException e)
        {
            // After a syntax error nothing else in the file can be trusted: report that one error only.
            var at = e.Message.Contains("tab", StringComparison.Ordinal) ? FirstTabIndent(text, e.Start) : Position(e.Start);
            errors.Add(at, "", "invalid YAML: " + e.Message.TrimEnd('.'), SyntaxFix);
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this, without a position, on some broken flow collections
            // (aaubry/YamlDotNet#541), e.g. a comment line inside [ ]. It must still be an error, not a crash.
            errors.Add(reader.LastGoodPosition, "", "invalid YAML after this point",
                "look for an unclosed [ or {, or a comment line inside [ ] or { }; " + SyntaxFix);
            return null;
        }
    }

    private const string SyntaxFix = "check the indentation (spaces, not tabs) and quote values that contain ': ' or ' #'";

    /// <summary>YamlDotNet reports a tab in the indentation at the start of the enclosing mapping; point at the tab.</summary>
    private static TextPosition FirstTabIndent(string text, Mark from)
    {
        var lines = text.Split('\n');
        for (var i = (int)Math.Max(0, from.Line - 1); i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', StringComparison.Ordinal);
            if (tab >= 0 && tab < indent)
            {
                return new TextPosition(i + 1, tab + 1);
            }
        }
        return Position(from);
    }

    private static TextPosition Position(Mark mark) => new((int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column));

    private sealed class Reader(IParser parser, ConfigErrorList refusals)
    {
        public YamlNode? ReadStream()
        {
            Next(); // StreamStart
            Next();
            if (parser.Current is StreamEnd)
            {
                return null; // no document: an empty file, or only comments
            }
            Next(); // past DocumentStart
            var root = ReadNode("", 0);
            Next(); // past DocumentEnd
            if (parser.Current is DocumentStart second)
            {
                refusals.Add(Position(second.Start), "", "the file holds more than one YAML document",
                    "keep a single document: remove this '---' and merge what follows into the first");
                // Keep parsing: a syntax error further down still wins over this message.
                while (parser.MoveNext())
                {
                }
            }
            return root;
        }

        /// <summary>Where the last event the parser delivered ends (for failures that carry no position).</summary>
        public TextPosition LastGoodPosition { get; private set; } = new(1, 1);

        private void Next()
        {
            if (!parser.MoveNext())
            {
                throw new InvalidOperationException("the YAML event stream ended early");
            }
            LastGoodPosition = Position(parser.Current!.End);
        }

        private YamlNode ReadNode(string path, int depth)
        {
            var current = parser.Current ?? throw new InvalidOperationException("no YAML event");
            var at = Position(current.Start);
            if (depth > MaxDepth)
            {
                throw new YamlException(current.Start, current.End, $"values are nested more than {MaxDepth} levels deep");
            }
            if (current is AnchorAlias)
            {
                RefuseAnchor(at, path);
                Next();
                return new YamlScalar(at, "", isPlain: true);
            }
            if (current is NodeEvent node)
            {
                if (!node.Anchor.IsEmpty)
                {
                    RefuseAnchor(at, path);
                }
                if (!node.Tag.IsEmpty)
                {
                    var tag = node.Tag.Value.Replace("tag:yaml.org,2002:", "!!", StringComparison.Ordinal);
                    refusals.Add(at, path, $"tags like '{tag}' are not supported",
                        "remove the tag; quote the value if it must be read as text");
                }
            }
            switch (current)
            {
                case Scalar scalar:
                    Next();
                    return new YamlScalar(at, scalar.Value, scalar.Style is ScalarStyle.Plain or ScalarStyle.Any);
                case SequenceStart:
                    return ReadSequence(at, path, depth);
                case MappingStart:
                    return ReadMapping(at, path, depth);
                default:
                    throw new YamlException(current.Start, current.End, $"unexpected {current.GetType().Name}");
            }
        }

        private YamlSequence ReadSequence(TextPosition at, string path, int depth)
        {
            Next();
            var items = new List<YamlNode>();
            while (parser.Current is not SequenceEnd)
            {
                items.Add(ReadNode($"{path}[{items.Count}]", depth + 1));
            }
            Next();
            return new YamlSequence(at, items);
        }

        private YamlMapping ReadMapping(TextPosition at, string path, int depth)
        {
            Next();
            var entries = new List<YamlEntry>();
            while (parser.Current is not MappingEnd)
            {
                var keyNode = ReadNode(path, depth + 1);
                if (keyNode is not YamlScalar key)
                {
                    refusals.Add(keyNode.Start, path, "a key must be a plain name, not " + keyNode.Description,
                        "write key: value, with the key as a plain word");
                    key = new YamlScalar(keyNode.Start, "", isPlain: true);
                }
                var childPath = path.Length == 0 ? key.Value : path + "." + key.Value;
                entries.Add(new YamlEntry(key, ReadNode(childPath, depth + 1)));
            }
            Next();
            return new YamlMapping(at, entries);
        }

        private void RefuseAnchor(TextPosition at, string path) =>
            refusals.Add(at, path, "anchors and aliases are not supported", "write the value out");
    }
}
