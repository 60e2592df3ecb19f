"""The protected, validated template each department fills in."""
