FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libegl1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV DJANGO_SETTINGS_MODULE=webapp.settings PYTHONUNBUFFERED=1
RUN FACELAB_VAR_DIR=/tmp/build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["python", "-m", "webapp.serve", "--host", "0.0.0.0", "--port", "8000"]
