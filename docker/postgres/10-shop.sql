-- Sample schema for the docker-compose demo (runs once, when the volume is first created).
CREATE TABLE public.customers (
  id         serial PRIMARY KEY,
  email      text NOT NULL UNIQUE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.orders (
  id          serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES public.customers (id) ON DELETE CASCADE,
  status      text NOT NULL DEFAULT 'new',
  total       numeric(10, 2) NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Old row images on updates and deletes, so `before` is filled in change events.
ALTER TABLE public.customers REPLICA IDENTITY FULL;
ALTER TABLE public.orders REPLICA IDENTITY FULL;

INSERT INTO public.customers (email, name)
SELECT 'customer' || g || '@example.com', 'Customer ' || g FROM generate_series(1, 20) g;

INSERT INTO public.orders (customer_id, total)
SELECT 1 + (g % 20), round((random() * 200)::numeric, 2) FROM generate_series(1, 50) g;
