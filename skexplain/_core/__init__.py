"""The core under every explainer: one model adapter, one compute engine, one contract.

Imports nothing else of skexplain.
"""
