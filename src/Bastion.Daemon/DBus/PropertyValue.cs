using Bastion.Api;
using Tmds.DBus.Protocol;

namespace Bastion.Daemon.DBus;

/// <summary>
/// The value of one property of org.bastion.Bastion1 with its D-Bus type: what Get/GetAll answer and PropertiesChanged
/// carries, and what is compared to decide whether a property changed.
/// </summary>
internal readonly struct PropertyValue : IEquatable<PropertyValue>
{
    private readonly object _value;

    private PropertyValue(string signature, object value)
    {
        Signature = signature;
        _value = value;
    }

    public string Signature { get; }

    public static PropertyValue Of(string value) => new("s", value);
    public static PropertyValue Of(uint value) => new("u", value);
    public static PropertyValue Of(long value) => new("x", value);
    public static PropertyValue Of(IReadOnlyList<string> value) => new("as", value.ToArray());

    public void WriteVariant(ref MessageWriter writer)
    {
        switch (_value)
        {
            case string s:
                writer.WriteVariantString(ComponentCodec.Text(s));
                break;
            case uint u:
                writer.WriteVariantUInt32(u);
                break;
            case long x:
                writer.WriteVariantInt64(x);
                break;
            case string[] list:
                writer.WriteSignature("as");
                writer.WriteArray(list.Select(ComponentCodec.Text).ToArray());
                break;
            default:
                throw new InvalidOperationException($"a property value of type {_value?.GetType().Name}");
        }
    }

    public bool Equals(PropertyValue other) =>
        Signature == other.Signature
        && (_value is string[] a && other._value is string[] b ? a.SequenceEqual(b, StringComparer.Ordinal) : Equals(_value, other._value));

    public override bool Equals(object? obj) => obj is PropertyValue other && Equals(other);

    public override int GetHashCode() => Signature.GetHashCode(StringComparison.Ordinal);

    public static bool operator ==(PropertyValue left, PropertyValue right) => left.Equals(right);

    public static bool operator !=(PropertyValue left, PropertyValue right) => !left.Equals(right);
}
