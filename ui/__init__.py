"""Reusable Streamlit UI components for Portrait Studio."""
