"""Benchmarks for Portrait Studio: mask quality on the hand-labelled dev set, tuning, and speed."""
