# The Challenge's official layout: the code in /physionet, dependencies from requirements.txt.
# PyPI's Linux build of torch is GPU-capable (CUDA); on a machine without a GPU it runs on the CPU.
FROM python:3.11-slim

RUN mkdir /physionet
WORKDIR /physionet

COPY requirements.txt /physionet/
RUN pip install --no-cache-dir -r requirements.txt

COPY ./ /physionet/
